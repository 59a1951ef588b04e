// The HTML report: one self-contained page (inline CSS and SVG drawn here, no scripts, fonts or
// anything fetched) with the runs' key figures, the levels table, the latency-by-percentile
// chart as HdrHistogram's plotter draws it, and the per-second timeline.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <sstream>

#include "loadgen/report_format.h"
#include "weft/http/handler.h"
#include "weft/loadgen/report.h"

namespace weft::loadgen {
namespace {

using namespace detail;

// s made safe as HTML text and inside double- or single-quoted attribute values.
std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  http::append_html_escaped(out, s);
  return out;
}

// ---- Charts ------------------------------------------------------------------------------

constexpr std::string_view kPalette[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1",
                                         "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#79706e"};

std::string_view colour_of(size_t run) {
  return kPalette[run % std::size(kPalette)];
}

constexpr double kGap = std::numeric_limits<double>::quiet_NaN();

struct Point {
  double x;
  double y;  // kGap (NaN) breaks the line: no data there
};

struct Series {
  std::string label;
  std::string_view colour;
  bool dashed = false;
  std::vector<Point> points;
};

struct Tick {
  double at;
  std::string label;
};

struct Axis {
  double lo = 0;
  double hi = 1;  // > lo
  std::vector<Tick> ticks;
  std::string title;
};

struct Chart {
  std::string title;  // for screen readers
  Axis x;
  Axis y;
  std::vector<Series> series;
};

// The SVG canvas (its viewBox) and the plot area inside it.
constexpr double kWidth = 760, kHeight = 320;
constexpr double kLeft = 64, kRight = 40, kTop = 20, kBottom = 50;
constexpr double kPlotWidth = kWidth - kLeft - kRight, kPlotHeight = kHeight - kTop - kBottom;

std::string num(double v) {
  return format_fixed(v, 1);
}

double to_px(const Axis& a, double v) {
  return kLeft + (v - a.lo) / (a.hi - a.lo) * kPlotWidth;
}
double to_py(const Axis& a, double v) {
  return kTop + kPlotHeight - (v - a.lo) / (a.hi - a.lo) * kPlotHeight;
}

// An axis from 0 to a round number >= max with about five ticks spaced 1, 2 or 5 times a power
// of ten (at least min_step apart).
Axis linear_axis(double max, std::string title, double min_step = 0) {
  if (!(max > 0) || !std::isfinite(max)) max = 1;
  const double raw = max / 5;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  step = std::max(step, min_step);
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  Axis a{0, std::ceil(max / step - 1e-9) * step, {}, std::move(title)};
  for (int i = 0; i * step <= a.hi + step / 2; ++i) {
    a.ticks.push_back({i * step, format_fixed(i * step, decimals)});
  }
  return a;
}

// Where a percentile sits on HdrHistogram's percentile axis: log10(1 / (1 - p)), so 90% is 1,
// 99% is 2 and so on; 100% is infinite.
double percentile_position(double percentile) {
  return percentile >= 100 ? std::numeric_limits<double>::infinity()
                           : std::log10(100 / (100 - percentile));
}

// "0%", "90%", "99%", "99.9%", ... for position 0, 1, 2, 3, ...
std::string percentile_tick_label(int position) {
  if (position == 0) return "0%";
  if (position == 1) return "90%";
  if (position == 2) return "99%";
  return "99." + std::string(static_cast<size_t>(position - 2), '9') + "%";
}

// The percentile axis from 0% to 99.999%, or further when the data reaches further (up to
// 99.9999999%); the 100% point is drawn at its right end.
Axis percentile_axis(double data_reach) {
  const int decades = std::clamp(static_cast<int>(std::ceil(data_reach - 1e-9)), 5, 9);
  Axis a{0, static_cast<double>(decades), {}, "percentile"};
  for (int i = 0; i <= decades; ++i) a.ticks.push_back({double(i), percentile_tick_label(i)});
  return a;
}

void write_grid(std::ostream& out, const Chart& c) {
  for (const Tick& t : c.x.ticks) {
    const std::string x = num(to_px(c.x, t.at));
    out << "<line class=\"grid\" x1=\"" << x << "\" y1=\"" << num(kTop) << "\" x2=\"" << x
        << "\" y2=\"" << num(kTop + kPlotHeight) << "\"/>"
        << "<text x=\"" << x << "\" y=\"" << num(kTop + kPlotHeight + 18)
        << "\" text-anchor=\"middle\">" << escape_html(t.label) << "</text>\n";
  }
  for (const Tick& t : c.y.ticks) {
    const std::string y = num(to_py(c.y, t.at));
    out << "<line class=\"grid\" x1=\"" << num(kLeft) << "\" y1=\"" << y << "\" x2=\""
        << num(kLeft + kPlotWidth) << "\" y2=\"" << y << "\"/>"
        << "<text x=\"" << num(kLeft - 8) << "\" y=\"" << y
        << "\" text-anchor=\"end\" dominant-baseline=\"middle\">" << escape_html(t.label)
        << "</text>\n";
  }
}

void write_axes(std::ostream& out, const Chart& c) {
  const double bottom = kTop + kPlotHeight;
  out << "<path class=\"axis\" fill=\"none\" stroke=\"#9aa5b1\" d=\"M" << num(kLeft) << ' '
      << num(kTop) << "V" << num(bottom) << "H" << num(kLeft + kPlotWidth) << "\"/>\n"
      << "<text class=\"title\" x=\"" << num(kLeft + kPlotWidth / 2) << "\" y=\""
      << num(kHeight - 8) << "\" text-anchor=\"middle\">" << escape_html(c.x.title) << "</text>\n"
      << "<text class=\"title\" transform=\"translate(16 " << num(kTop + kPlotHeight / 2)
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape_html(c.y.title) << "</text>\n";
}

// The series as an SVG path in plot coordinates ("M x y h0 L x y ..."), starting a new stretch
// after each gap; values outside the axes are clamped to them. The zero-length "h0" after each
// move makes a stretch of one point show as a dot (the line's round cap).
std::string path_data(const Chart& c, const Series& s) {
  std::string d;
  bool pen_down = false;
  for (const Point& p : s.points) {
    if (std::isnan(p.y)) {
      pen_down = false;
      continue;
    }
    const double x = std::clamp(p.x, c.x.lo, c.x.hi), y = std::clamp(p.y, c.y.lo, c.y.hi);
    d += pen_down ? 'L' : 'M';
    d += num(to_px(c.x, x));
    d += ' ';
    d += num(to_py(c.y, y));
    if (!pen_down) d += "h0";
    pen_down = true;
  }
  return d;
}

void write_series(std::ostream& out, const Chart& c) {
  for (const Series& s : c.series) {
    out << "<path fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"2\""
        << " stroke-linejoin=\"round\" stroke-linecap=\"round\""
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " d=\"" << path_data(c, s)
        << "\"><title>" << escape_html(s.label) << "</title></path>\n";
  }
}

// A small legend swatch: the series' line as it is drawn in the chart.
std::string swatch(const Series& s) {
  return "<svg width=\"28\" height=\"10\" viewBox=\"0 0 28 10\" aria-hidden=\"true\"><line "
         "x1=\"1\" "
         "y1=\"5\" x2=\"27\" y2=\"5\" stroke=\"" +
         std::string(s.colour) + "\" stroke-width=\"2\"" +
         (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/></svg>";
}

void write_legend(std::ostream& out, const std::vector<Series>& series) {
  out << "<ul class=\"legend\">";
  for (const Series& s : series) out << "<li>" << swatch(s) << escape_html(s.label) << "</li>";
  out << "</ul>\n";
}

// The chart as an inline SVG that scales to the page's width, followed by its legend.
void write_chart(std::ostream& out, const Chart& c) {
  out << "<svg class=\"chart\" viewBox=\"0 0 " << num(kWidth) << ' ' << num(kHeight)
      << "\" role=\"img\" aria-label=\"" << escape_html(c.title) << "\">\n";
  write_grid(out, c);
  write_axes(out, c);
  write_series(out, c);
  out << "</svg>\n";
  write_legend(out, c.series);
}

// ---- The charts of a report --------------------------------------------------------------

double max_y(const std::vector<Series>& series) {
  double m = 0;
  for (const Series& s : series) {
    for (const Point& p : s.points) {
      if (std::isfinite(p.y)) m = std::max(m, p.y);
    }
  }
  return m;
}

// Percentile curve points: x on the percentile axis (100% at +infinity), y in ms.
std::vector<Point> percentile_points(const Histogram& h) {
  std::vector<Point> points;
  for (const Histogram::PercentilePoint& p : h.percentile_distribution()) {
    points.push_back({percentile_position(p.percentile), static_cast<double>(p.value) / 1000});
  }
  return points;
}

Chart percentile_chart(const std::vector<RunResult>& runs) {
  Chart c{"Latency by percentile", {}, {}, {}};
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    c.series.push_back({run_label(r), colour_of(i), false, percentile_points(r.latency)});
    if (r.open_model()) {
      c.series.push_back(
          {run_label(r) + ", service time", colour_of(i), true, percentile_points(r.service)});
    }
  }
  double reach = 0;  // the furthest finite percentile position of any point
  for (const Series& s : c.series) {
    for (const Point& p : s.points) {
      if (std::isfinite(p.x)) reach = std::max(reach, p.x);
    }
  }
  c.x = percentile_axis(reach);
  c.y = linear_axis(max_y(c.series), "latency (ms)");
  return c;
}

size_t longest_timeline(const std::vector<RunResult>& runs) {
  size_t n = 0;
  for (const RunResult& r : runs) n = std::max(n, r.timeline.size());
  return n;
}

// A per-second chart with one line per run: value(second) at the middle of each second, or
// kGap where there is no value.
Chart timeline_chart(const std::vector<RunResult>& runs, std::string title, std::string y_title,
                     const std::function<double(const Second&)>& value) {
  Chart c{std::move(title), {}, {}, {}};
  for (size_t i = 0; i < runs.size(); ++i) {
    Series s{run_label(runs[i]), colour_of(i), false, {}};
    const std::vector<Second>& t = runs[i].timeline;
    for (size_t k = 0; k < t.size(); ++k) s.points.push_back({double(k) + 0.5, value(t[k])});
    c.series.push_back(std::move(s));
  }
  c.x = linear_axis(double(longest_timeline(runs)), "seconds", 1);
  c.y = linear_axis(max_y(c.series), std::move(y_title));
  return c;
}

Chart throughput_chart(const std::vector<RunResult>& runs) {
  return timeline_chart(runs, "Throughput per second", "responses per second",
                        [](const Second& s) { return double(s.responses); });
}

// p99 of the responses that completed in each second; a gap where none did.
Chart p99_chart(const std::vector<RunResult>& runs) {
  return timeline_chart(runs, "p99 latency per second", "p99 latency (ms)", [](const Second& s) {
    return s.latency.count() ? double(s.latency.value_at_percentile(99)) / 1000 : kGap;
  });
}

// ---- Tables and page ---------------------------------------------------------------------

bool any_open_model(const std::vector<RunResult>& runs) {
  return std::any_of(runs.begin(), runs.end(), [](const RunResult& r) { return r.open_model(); });
}

// One row of the key-figures table: its label and a run's cell as plain text. open_only rows
// show a dash for closed-model runs and are left out when no run is open.
struct FigureRow {
  std::string label;
  bool open_only;
  std::function<std::string(const RunResult&)> cell;
};

// A row showing one percentile of one of a run's histograms (100 shows its max).
FigureRow percentile_row(std::string label, const Histogram RunResult::*h, double percentile,
                         bool open_only) {
  return {std::move(label), open_only, [h, percentile](const RunResult& r) {
            return format_duration_us((r.*h).value_at_percentile(percentile));
          }};
}

std::vector<FigureRow> totals_rows() {
  std::vector<FigureRow> rows{
      {"model", false,
       [](const RunResult& r) {
         return r.open_model() ? "open, " + format_plain(r.config.rate) + " req/s" : "closed";
       }},
      {"elapsed", false, [](const RunResult& r) { return format_duration_us(r.elapsed_s * 1e6); }},
      {"attempted", false, [](const RunResult& r) { return std::to_string(r.attempted); }},
      {"responses", false, [](const RunResult& r) { return std::to_string(r.responses); }},
      {"req/s", false, [](const RunResult& r) { return format_fixed(r.requests_per_second(), 2); }},
      {"bytes/s", false,
       [](const RunResult& r) { return format_bytes(r.bytes_per_second()) + "/s"; }},
      {"status codes", false, [](const RunResult& r) { return describe_status_codes(r); }},
      {"errors", false,
       [](const RunResult& r) { return count_with_share(r.errors.total(), r.attempted); }},
  };
  for (const ErrorClass& e : kErrorClasses) {
    rows.push_back({std::string(e.label) + " errors", false, [&e](const RunResult& r) {
                      return count_with_share(r.errors.*e.count, r.attempted);
                    }});
  }
  return rows;
}

std::vector<FigureRow> latency_rows() {
  std::vector<FigureRow> rows{
      {"latency min", false,
       [](const RunResult& r) { return format_duration_us(r.latency.min()); }},
      {"latency mean", false,
       [](const RunResult& r) { return format_duration_us(r.latency.mean()); }},
      {"latency stdev", false,
       [](const RunResult& r) { return format_duration_us(r.latency.stdev()); }},
  };
  for (const PercentileSpec& p : kPercentiles) {
    rows.push_back(percentile_row("latency " + std::string(p.label), &RunResult::latency,
                                  p.percentile, false));
  }
  rows.push_back(percentile_row("latency max", &RunResult::latency, 100, false));
  return rows;
}

std::vector<FigureRow> open_model_rows() {
  return {
      percentile_row("service p50", &RunResult::service, 50, true),
      percentile_row("service p99", &RunResult::service, 99, true),
      percentile_row("service max", &RunResult::service, 100, true),
      percentile_row("send lag p50", &RunResult::send_lag, 50, true),
      percentile_row("send lag p99", &RunResult::send_lag, 99, true),
      percentile_row("send lag max", &RunResult::send_lag, 100, true),
      {"late sends (≥ 1 ms)", true,
       [](const RunResult& r) { return count_with_share(r.late_sends, r.send_lag.count()); }},
  };
}

void write_figure_rows(std::ostream& out, const std::vector<RunResult>& runs,
                       const std::vector<FigureRow>& rows) {
  const bool open = any_open_model(runs);
  for (const FigureRow& row : rows) {
    if (row.open_only && !open) continue;
    out << "<tr><th>" << escape_html(row.label) << "</th>";
    for (const RunResult& r : runs) {
      out << "<td>" << (row.open_only && !r.open_model() ? "—" : escape_html(row.cell(r)))
          << "</td>";
    }
    out << "</tr>\n";
  }
}

// The key figures, one column per run.
void write_figures_table(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "<div class=\"scroll\"><table>\n<thead><tr><th></th>";
  for (const RunResult& r : runs) out << "<th>" << escape_html(run_label(r)) << "</th>";
  out << "</tr></thead>\n<tbody>\n";
  write_figure_rows(out, runs, totals_rows());
  write_figure_rows(out, runs, latency_rows());
  write_figure_rows(out, runs, open_model_rows());
  write_figure_rows(out, runs, {{"generator CPU", false, describe_cpu}});
  out << "</tbody></table></div>\n";
}

void write_levels(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "<section><h2>Levels</h2>\n<table>\n<thead><tr>";
  for (std::string_view column : kLevelColumns) out << "<th>" << escape_html(column) << "</th>";
  out << "</tr></thead>\n<tbody>\n";
  for (const RunResult& r : runs) {
    out << "<tr>";
    for (const std::string& cell : level_row(r)) out << "<td>" << escape_html(cell) << "</td>";
    out << "</tr>\n";
  }
  out << "</tbody></table></section>\n";
}

void write_percentile_section(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "<section><h2>Latency by percentile</h2>\n";
  write_chart(out, percentile_chart(runs));
  if (any_open_model(runs)) {
    out << "<p class=\"note\">Solid lines: latency from each request's intended send time "
           "(corrected for coordinated omission). Dashed lines: service time from the actual "
           "send.</p>\n";
  }
  out << "</section>\n";
}

void write_timeline_section(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "<section><h2>Timeline</h2>\n";
  if (longest_timeline(runs) == 0) {
    out << "<p class=\"note\">No per-second data.</p></section>\n";
    return;
  }
  out << "<h3>Throughput</h3>\n";
  write_chart(out, throughput_chart(runs));
  out << "<h3>p99 latency</h3>\n";
  write_chart(out, p99_chart(runs));
  out << "</section>\n";
}

// Each run's full text summary, folded away.
void write_text_summaries(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "<section><h2>Text summaries</h2>\n";
  for (const RunResult& r : runs) {
    std::ostringstream text;
    write_summary(text, r);
    out << "<details><summary>" << escape_html(run_label(r)) << "</summary><pre>"
        << escape_html(text.str()) << "</pre></details>\n";
  }
  out << "</section>\n";
}

constexpr std::string_view kStyle = R"(
:root { color-scheme: light; }
body { margin: 0; background: #f4f6f8; color: #1f2933;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 16px; }
h1 { font-size: 1.5rem; margin: 0 0 8px; }
h2 { font-size: 1.15rem; margin: 0 0 12px; }
h3 { font-size: 0.95rem; margin: 16px 0 4px; color: #52606d; }
section { background: #fff; border: 1px solid #e4e7eb; border-radius: 8px; padding: 16px 20px;
  margin: 16px 0; }
ul.runs { margin: 0; padding-left: 20px; color: #52606d; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 12px; border-bottom: 1px solid #eef0f3; text-align: right;
  white-space: nowrap; }
th:first-child { text-align: left; font-weight: 500; color: #52606d; }
thead th { color: #1f2933; font-weight: 600; border-bottom: 2px solid #d9dee4; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font-size: 12px; fill: #616e7c; }
svg.chart text.title { font-size: 13px; fill: #323f4b; }
svg.chart .grid { stroke: #eef0f3; }
svg.chart .axis { stroke: #9aa5b1; fill: none; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 8px 0 0;
  padding: 0; font-size: 13px; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.note { color: #616e7c; font-size: 13px; }
pre { background: #f8f9fb; padding: 12px; overflow-x: auto; font-size: 13px; }
summary { cursor: pointer; }
)";

void write_head(std::ostream& out, const std::vector<RunResult>& runs) {
  const std::string title =
      runs.empty() ? "weft bench"
                   : "weft bench: " + runs.front().config.method + " " + runs.front().config.url;
  out << "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<title>" << escape_html(title) << "</title>\n<style>" << kStyle << "</style>\n"
      << "</head>\n";
}

}  // namespace

void write_html(std::ostream& out, const std::vector<RunResult>& runs) {
  write_head(out, runs);
  out << "<body>\n<main>\n<h1>weft bench</h1>\n";
  if (runs.empty()) {
    out << "<p class=\"note\">No runs.</p>\n</main>\n</body>\n</html>\n";
    return;
  }
  out << "<ul class=\"runs\">\n";
  for (const RunResult& r : runs) out << "<li>" << escape_html(describe_run(r.config)) << "</li>\n";
  out << "</ul>\n<section><h2>Summary</h2>\n";
  write_figures_table(out, runs);
  out << "</section>\n";
  if (runs.size() > 1) write_levels(out, runs);
  write_percentile_section(out, runs);
  write_timeline_section(out, runs);
  write_text_summaries(out, runs);
  out << "</main>\n</body>\n</html>\n";
}

}  // namespace weft::loadgen
