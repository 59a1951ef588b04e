// ServeMux tests: pattern syntax, matching, precedence, conflicts, redirects and concurrency.
#include "weft/http/mux.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace weft::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// A handler that carries an id, so a test can tell which registration matched.
struct Tagged {
  int id;
  void operator()(ResponseWriter&, Request&) const {}
};

int tag_of(const RouteMatch& m) {
  if (m.handler == nullptr) return -1;
  const Tagged* t = m.handler->target<Tagged>();
  return t ? t->id : -2;
}

RouteMatch get(const ServeMux& mux, std::string_view path, std::string_view host = "") {
  return mux.match("GET", host, path);
}

std::string conflict_message(ServeMux& mux, std::string_view pattern) {
  try {
    mux.handle(pattern, Tagged{99});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

TEST(MuxTest, LiteralPathsMatchExactly) {
  ServeMux mux;
  mux.handle("/api/user", Tagged{1});
  mux.handle("/api/users", Tagged{2});
  mux.handle("/api", Tagged{3});

  RouteMatch m = get(mux, "/api/user");
  EXPECT_EQ(m.status, 0);
  EXPECT_EQ(tag_of(m), 1);
  EXPECT_EQ(m.pattern, "/api/user");
  EXPECT_TRUE(m.values.empty());
  EXPECT_NE(m.hold, nullptr);

  EXPECT_EQ(tag_of(get(mux, "/api/users")), 2);
  EXPECT_EQ(tag_of(get(mux, "/api")), 3);
  EXPECT_EQ(get(mux, "/api/user/x").status, 404);
  EXPECT_EQ(get(mux, "/api/use").status, 404);
  EXPECT_EQ(get(mux, "/").status, 404);
  // A literal pattern without a trailing slash does not match the path with one.
  EXPECT_EQ(get(mux, "/api/user/").status, 404);
}

TEST(MuxTest, LiteralsAreCaseSensitive) {
  ServeMux mux;
  mux.handle("/About", Tagged{1});
  EXPECT_EQ(tag_of(get(mux, "/About")), 1);
  EXPECT_EQ(get(mux, "/about").status, 404);
}

TEST(MuxTest, SingleWildcardMatchesOneSegment) {
  ServeMux mux;
  mux.handle("/items/{id}", Tagged{1});

  RouteMatch m = get(mux, "/items/42");
  ASSERT_EQ(m.status, 0);
  EXPECT_EQ(m.pattern, "/items/{id}");
  EXPECT_THAT(m.values, ElementsAre(Pair("id", "42")));

  // The path is already decoded; the value is the segment text as given.
  EXPECT_THAT(get(mux, "/items/a b%").values, ElementsAre(Pair("id", "a b%")));
  EXPECT_EQ(get(mux, "/items/42/extra").status, 404);
  EXPECT_EQ(get(mux, "/items").status, 404);
  // A single wildcard never matches the empty segment of a trailing slash.
  EXPECT_EQ(get(mux, "/items/").status, 404);
}

TEST(MuxTest, SeveralWildcardsKeepPatternOrder) {
  ServeMux mux;
  mux.handle("/{org}/repos/{repo}/issues/{n}", Tagged{1});
  RouteMatch m = get(mux, "/weft/repos/core/issues/7");
  ASSERT_EQ(m.status, 0);
  EXPECT_THAT(m.values, ElementsAre(Pair("org", "weft"), Pair("repo", "core"), Pair("n", "7")));
}

TEST(MuxTest, RestWildcardTakesTheRemainingPath) {
  ServeMux mux;
  mux.handle("/b/{bucket}/o/{object...}", Tagged{1});

  RouteMatch m = get(mux, "/b/photos/o/2024/jan/cat.jpg");
  ASSERT_EQ(m.status, 0);
  EXPECT_THAT(m.values, ElementsAre(Pair("bucket", "photos"), Pair("object", "2024/jan/cat.jpg")));

  m = get(mux, "/b/photos/o/cat.jpg");
  EXPECT_THAT(m.values, ElementsAre(Pair("bucket", "photos"), Pair("object", "cat.jpg")));

  // The rest may be empty when the path ends in the slash before it.
  m = get(mux, "/b/photos/o/");
  ASSERT_EQ(m.status, 0);
  EXPECT_THAT(m.values, ElementsAre(Pair("bucket", "photos"), Pair("object", "")));

  // Trailing slashes inside the rest are kept.
  m = get(mux, "/b/photos/o/dir/");
  EXPECT_THAT(m.values, ElementsAre(Pair("bucket", "photos"), Pair("object", "dir/")));

  EXPECT_EQ(get(mux, "/b/photos/x/cat.jpg").status, 404);
}

TEST(MuxTest, RestWildcardAtRoot) {
  ServeMux mux;
  mux.handle("/{path...}", Tagged{1});
  EXPECT_THAT(get(mux, "/").values, ElementsAre(Pair("path", "")));
  EXPECT_THAT(get(mux, "/a/b/c").values, ElementsAre(Pair("path", "a/b/c")));
}

TEST(MuxTest, TrailingSlashMatchesTheSubtree) {
  ServeMux mux;
  mux.handle("/static/", Tagged{1});
  mux.handle("/static/css/", Tagged{2});

  EXPECT_EQ(tag_of(get(mux, "/static/")), 1);
  EXPECT_EQ(tag_of(get(mux, "/static/logo.png")), 1);
  EXPECT_EQ(tag_of(get(mux, "/static/js/app.js")), 1);
  // The longer subtree is more specific.
  EXPECT_EQ(tag_of(get(mux, "/static/css/")), 2);
  EXPECT_EQ(tag_of(get(mux, "/static/css/site.css")), 2);
  // Anonymous subtrees record no values.
  EXPECT_TRUE(get(mux, "/static/js/app.js").values.empty());
  EXPECT_EQ(get(mux, "/other").status, 404);
}

TEST(MuxTest, RootPatternMatchesEverything) {
  ServeMux mux;
  mux.handle("/", Tagged{1});
  mux.handle("/healthz", Tagged{2});
  EXPECT_EQ(tag_of(get(mux, "/")), 1);
  EXPECT_EQ(tag_of(get(mux, "/anything/at/all")), 1);
  EXPECT_EQ(tag_of(get(mux, "/healthz")), 2);
  EXPECT_EQ(tag_of(mux.match("DELETE", "example.com", "/x")), 1);
}

TEST(MuxTest, DollarMatchesOnlyTheExactPath) {
  ServeMux mux;
  mux.handle("/{$}", Tagged{1});
  mux.handle("/a/{$}", Tagged{2});

  EXPECT_EQ(tag_of(get(mux, "/")), 1);
  EXPECT_EQ(get(mux, "/x").status, 404);
  EXPECT_EQ(tag_of(get(mux, "/a/")), 2);
  EXPECT_EQ(get(mux, "/a/b").status, 404);

  // With a catch-all registered as well, the exact root still goes to "{$}".
  mux.handle("/", Tagged{3});
  EXPECT_EQ(tag_of(get(mux, "/")), 1);
  EXPECT_EQ(tag_of(get(mux, "/x")), 3);
  EXPECT_EQ(tag_of(get(mux, "/a/b")), 3);
}

TEST(MuxTest, DollarAfterWildcard) {
  ServeMux mux;
  mux.handle("/users/{id}/{$}", Tagged{1});
  RouteMatch m = get(mux, "/users/7/");
  ASSERT_EQ(m.status, 0);
  EXPECT_THAT(m.values, ElementsAre(Pair("id", "7")));
  EXPECT_EQ(get(mux, "/users/7/x").status, 404);
}

TEST(MuxTest, LiteralBeatsWildcardWhicheverIsRegisteredFirst) {
  for (bool literal_first : {true, false}) {
    ServeMux mux;
    if (literal_first) mux.handle("/items/new", Tagged{1});
    mux.handle("/items/{id}", Tagged{2});
    if (!literal_first) mux.handle("/items/new", Tagged{1});

    EXPECT_EQ(tag_of(get(mux, "/items/new")), 1);
    RouteMatch m = get(mux, "/items/17");
    EXPECT_EQ(tag_of(m), 2);
    EXPECT_THAT(m.values, ElementsAre(Pair("id", "17")));
  }
}

TEST(MuxTest, WildcardBeatsRestWildcardAndSubtree) {
  ServeMux mux;
  mux.handle("/files/{name}", Tagged{1});
  mux.handle("/files/{rest...}", Tagged{2});
  mux.handle("/files/special", Tagged{3});

  EXPECT_EQ(tag_of(get(mux, "/files/special")), 3);
  EXPECT_EQ(tag_of(get(mux, "/files/readme")), 1);
  RouteMatch m = get(mux, "/files/a/b");
  EXPECT_EQ(tag_of(m), 2);
  EXPECT_THAT(m.values, ElementsAre(Pair("rest", "a/b")));
}

TEST(MuxTest, MatchingBacktracksOutOfADeadEndLiteral) {
  ServeMux mux;
  mux.handle("/a/b/z", Tagged{1});
  mux.handle("/a/{x}/c", Tagged{2});

  EXPECT_EQ(tag_of(get(mux, "/a/b/z")), 1);
  RouteMatch m = get(mux, "/a/b/c");
  EXPECT_EQ(tag_of(m), 2);
  EXPECT_THAT(m.values, ElementsAre(Pair("x", "b")));
  EXPECT_EQ(get(mux, "/a/b/y").status, 404);
}

TEST(MuxTest, MethodPatternBeatsMethodless) {
  ServeMux mux;
  mux.handle("/x", Tagged{1});
  mux.handle("GET /x", Tagged{2});

  EXPECT_EQ(tag_of(mux.match("GET", "", "/x")), 2);
  EXPECT_EQ(mux.match("GET", "", "/x").pattern, "GET /x");
  EXPECT_EQ(tag_of(mux.match("HEAD", "", "/x")), 2);
  EXPECT_EQ(tag_of(mux.match("POST", "", "/x")), 1);
  EXPECT_EQ(tag_of(mux.match("DELETE", "", "/x")), 1);
}

TEST(MuxTest, MethodsAreCaseSensitive) {
  ServeMux mux;
  mux.handle("GET /x", Tagged{1});
  EXPECT_EQ(tag_of(mux.match("GET", "", "/x")), 1);
  EXPECT_EQ(mux.match("get", "", "/x").status, 405);
}

TEST(MuxTest, GetAlsoServesHeadUnlessHeadIsRegistered) {
  ServeMux mux;
  mux.handle("GET /page", Tagged{1});
  EXPECT_EQ(tag_of(mux.match("HEAD", "", "/page")), 1);

  mux.handle("HEAD /page", Tagged{2});
  EXPECT_EQ(tag_of(mux.match("HEAD", "", "/page")), 2);
  EXPECT_EQ(tag_of(mux.match("GET", "", "/page")), 1);
}

TEST(MuxTest, HeadFallsBackToGetWhenTheHeadPatternDoesNotMatchThePath) {
  ServeMux mux;
  mux.handle("HEAD /a", Tagged{1});
  mux.handle("GET /b", Tagged{2});
  EXPECT_EQ(tag_of(mux.match("HEAD", "", "/a")), 1);
  EXPECT_EQ(tag_of(mux.match("HEAD", "", "/b")), 2);
}

TEST(MuxTest, HostPatternBeatsHostless) {
  ServeMux mux;
  mux.handle("/x", Tagged{1});
  mux.handle("example.com/x", Tagged{2});

  EXPECT_EQ(tag_of(get(mux, "/x", "example.com")), 2);
  EXPECT_EQ(get(mux, "/x", "example.com").pattern, "example.com/x");
  EXPECT_EQ(tag_of(get(mux, "/x", "other.org")), 1);
  EXPECT_EQ(tag_of(get(mux, "/x", "")), 1);
}

TEST(MuxTest, HostMatchingIgnoresPortAndCase) {
  ServeMux mux;
  mux.handle("Example.COM/x", Tagged{1});
  mux.handle("/x", Tagged{2});

  EXPECT_EQ(tag_of(get(mux, "/x", "example.com")), 1);
  EXPECT_EQ(tag_of(get(mux, "/x", "EXAMPLE.com:8080")), 1);
  EXPECT_EQ(tag_of(get(mux, "/x", "example.com:")), 1);
  EXPECT_EQ(tag_of(get(mux, "/x", "example.com.evil:80")), 2);
}

TEST(MuxTest, BracketedIpv6HostLosesItsPort) {
  ServeMux mux;
  mux.handle("::1/x", Tagged{1});
  mux.handle("/x", Tagged{2});
  EXPECT_EQ(tag_of(get(mux, "/x", "[::1]:8080")), 1);
}

TEST(MuxTest, HostPatternFallsBackToHostlessWhenItsPathDoesNotMatch) {
  ServeMux mux;
  mux.handle("example.com/a", Tagged{1});
  mux.handle("/b", Tagged{2});
  EXPECT_EQ(tag_of(get(mux, "/a", "example.com")), 1);
  EXPECT_EQ(tag_of(get(mux, "/b", "example.com")), 2);
  EXPECT_EQ(get(mux, "/a", "other.org").status, 404);
}

TEST(MuxTest, HostOnlyPatternServesTheWholeHost) {
  ServeMux mux;
  mux.handle("api.example.com/", Tagged{1});
  mux.handle("/", Tagged{2});
  EXPECT_EQ(tag_of(get(mux, "/v1/x", "api.example.com")), 1);
  EXPECT_EQ(tag_of(get(mux, "/v1/x", "www.example.com")), 2);
}

TEST(MuxTest, NoRouteIsNotFound) {
  ServeMux empty;
  RouteMatch m = get(empty, "/");
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_TRUE(m.pattern.empty());
  EXPECT_TRUE(m.allow.empty());

  ServeMux mux;
  mux.handle("/a", Tagged{1});
  mux.handle("GET /b/{x}", Tagged{2});
  EXPECT_EQ(get(mux, "/c").status, 404);
  EXPECT_EQ(get(mux, "/b").status, 404);
  EXPECT_EQ(get(mux, "/b/x/y").status, 404);
}

TEST(MuxTest, WrongMethodIsMethodNotAllowedWithSortedAllow) {
  ServeMux mux;
  mux.handle("POST /r", Tagged{1});
  mux.handle("GET /r", Tagged{2});
  mux.handle("DELETE /r", Tagged{3});

  RouteMatch m = mux.match("PUT", "", "/r");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.allow, "DELETE, GET, HEAD, POST");

  EXPECT_EQ(tag_of(mux.match("POST", "", "/r")), 1);
  EXPECT_EQ(mux.match("PUT", "", "/elsewhere").status, 404);
}

TEST(MuxTest, AllowOmitsHeadWithoutGet) {
  ServeMux mux;
  mux.handle("PUT /r/{id}", Tagged{1});
  mux.handle("PATCH /r/{id}", Tagged{2});
  RouteMatch m = mux.match("GET", "", "/r/9");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "PATCH, PUT");
}

TEST(MuxTest, AllowCountsHostAndHostlessPatterns) {
  ServeMux mux;
  mux.handle("example.com/r", Tagged{1});
  mux.handle("POST example.com/w", Tagged{2});
  mux.handle("PUT /w", Tagged{3});
  RouteMatch m = mux.match("GET", "example.com", "/w");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "POST, PUT");
  // Another host sees only the hostless pattern.
  EXPECT_EQ(mux.match("GET", "other.org", "/w").allow, "PUT");
}

TEST(MuxTest, MethodlessPatternMeansNoMethodNotAllowed) {
  ServeMux mux;
  mux.handle("GET /r", Tagged{1});
  mux.handle("/r", Tagged{2});
  EXPECT_EQ(tag_of(mux.match("PUT", "", "/r")), 2);
}

TEST(MuxTest, MethodNotAllowedConsidersTheTrailingSlashPath) {
  ServeMux mux;
  mux.handle("GET /dir/", Tagged{1});
  RouteMatch m = mux.match("POST", "", "/dir");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, HEAD");
  // With the right method, the subtree root redirects instead.
  m = mux.match("GET", "", "/dir");
  EXPECT_EQ(m.status, 301);
  EXPECT_EQ(m.redirect_to, "/dir/");
}

TEST(MuxTest, SubtreeRootWithoutSlashRedirects) {
  ServeMux mux;
  mux.handle("/x/", Tagged{1});
  RouteMatch m = get(mux, "/x");
  EXPECT_EQ(m.status, 301);
  EXPECT_EQ(m.redirect_to, "/x/");
  EXPECT_EQ(m.handler, nullptr);

  // Registering the bare path takes the request instead.
  mux.handle("/x", Tagged{2});
  EXPECT_EQ(tag_of(get(mux, "/x")), 2);
  EXPECT_EQ(tag_of(get(mux, "/x/")), 1);
}

TEST(MuxTest, SubtreeRedirectWinsOverACatchAll) {
  ServeMux mux;
  mux.handle("/", Tagged{1});
  mux.handle("/docs/", Tagged{2});
  RouteMatch m = get(mux, "/docs");
  EXPECT_EQ(m.status, 301);
  EXPECT_EQ(m.redirect_to, "/docs/");
  EXPECT_EQ(tag_of(get(mux, "/doc")), 1);
}

TEST(MuxTest, RestWildcardAndDollarRootsRedirectToo) {
  ServeMux mux;
  mux.handle("/files/{path...}", Tagged{1});
  mux.handle("/exact/{$}", Tagged{2});
  mux.handle("/deep/{id}/", Tagged{3});
  EXPECT_EQ(get(mux, "/files").redirect_to, "/files/");
  EXPECT_EQ(get(mux, "/exact").redirect_to, "/exact/");
  EXPECT_EQ(get(mux, "/deep/7").redirect_to, "/deep/7/");
  EXPECT_EQ(get(mux, "/deep/7").status, 301);
}

TEST(MuxTest, SubtreeRedirectNeedsTheMethodToMatch) {
  ServeMux mux;
  mux.handle("POST /upload/", Tagged{1});
  mux.handle("/upload", Tagged{2});
  EXPECT_EQ(tag_of(mux.match("POST", "", "/upload")), 2);
  EXPECT_EQ(mux.match("POST", "", "/upload/a").pattern, "POST /upload/");
}

TEST(MuxTest, UncleanPathsRedirectToTheCleanPath) {
  ServeMux mux;
  mux.handle("/", Tagged{1});
  auto redirect_of = [&](std::string_view path) {
    RouteMatch m = get(mux, path);
    EXPECT_EQ(m.status, 301) << path;
    EXPECT_EQ(m.handler, nullptr) << path;
    return m.redirect_to;
  };
  EXPECT_EQ(redirect_of("/a//b"), "/a/b");
  EXPECT_EQ(redirect_of("//"), "/");
  EXPECT_EQ(redirect_of("/a/./b"), "/a/b");
  EXPECT_EQ(redirect_of("/a/../b"), "/b");
  EXPECT_EQ(redirect_of("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(redirect_of("/a/b/."), "/a/b");
  EXPECT_EQ(redirect_of("/a/b/.."), "/a");
  EXPECT_EQ(redirect_of("/a/.."), "/");
  EXPECT_EQ(redirect_of("/a/b/../"), "/a/");
  EXPECT_EQ(redirect_of("/a//b/"), "/a/b/");
  EXPECT_EQ(redirect_of("/./"), "/");
  EXPECT_EQ(redirect_of(""), "/");
  EXPECT_EQ(redirect_of("a/b"), "/a/b");

  // Names that only look like dot segments are fine.
  EXPECT_EQ(get(mux, "/a./.b/...").status, 0);
  EXPECT_EQ(get(mux, "/a/").status, 0);
}

TEST(MuxTest, UncleanPathsRedirectEvenWithoutARoute) {
  ServeMux mux;
  RouteMatch m = get(mux, "/x/../y");
  EXPECT_EQ(m.status, 301);
  EXPECT_EQ(m.redirect_to, "/y");
}

TEST(MuxTest, CleaningAndSubtreeRedirectCombine) {
  ServeMux mux;
  mux.handle("/x/", Tagged{1});
  RouteMatch m = get(mux, "/a/../x");
  EXPECT_EQ(m.status, 301);
  EXPECT_EQ(m.redirect_to, "/x/");
}

TEST(MuxTest, ConnectPathsAreNotCleaned) {
  ServeMux mux;
  mux.handle("/a//b", Tagged{1});
  EXPECT_EQ(tag_of(mux.match("CONNECT", "", "/a//b")), 1);
  EXPECT_EQ(mux.match("GET", "", "/a//b").status, 301);
  // An authority-form target has no path a pattern could match.
  EXPECT_EQ(mux.match("CONNECT", "example.com:443", "").status, 404);
}

TEST(MuxTest, PercentEscapedLiteralsMatchDecodedPaths) {
  ServeMux mux;
  mux.handle("/caf%C3%A9", Tagged{1});
  mux.handle("/a%20b/{x}", Tagged{2});
  mux.handle("/100%25", Tagged{3});
  mux.handle("/%61bc", Tagged{4});
  mux.handle("/50%", Tagged{5});  // not a valid escape: stays a literal, as in Go

  EXPECT_EQ(tag_of(get(mux, "/café")), 1);
  EXPECT_EQ(get(mux, "/caf%C3%A9").status, 404);
  RouteMatch m = get(mux, "/a b/c");
  EXPECT_EQ(tag_of(m), 2);
  EXPECT_EQ(m.pattern, "/a%20b/{x}");
  EXPECT_THAT(m.values, ElementsAre(Pair("x", "c")));
  EXPECT_EQ(tag_of(get(mux, "/100%")), 3);
  EXPECT_EQ(tag_of(get(mux, "/abc")), 4);
  EXPECT_EQ(tag_of(get(mux, "/50%")), 5);
}

TEST(MuxTest, EscapedAndPlainSpellingsOfOneLiteralAreTheSamePattern) {
  ServeMux mux;
  mux.handle("/abc", Tagged{1});
  EXPECT_THAT(conflict_message(mux, "/%61bc"), HasSubstr("/abc"));
}

TEST(MuxTest, OverlappingPatternsConflict) {
  ServeMux mux;
  mux.handle("/a/{x}", Tagged{1});
  std::string msg = conflict_message(mux, "/{y}/b");
  EXPECT_THAT(msg, HasSubstr("\"/{y}/b\""));
  EXPECT_THAT(msg, HasSubstr("\"/a/{x}\""));
  EXPECT_THAT(msg, HasSubstr("/a/b"));  // an example both match

  // The failed registration changed nothing.
  EXPECT_EQ(tag_of(get(mux, "/a/q")), 1);
  EXPECT_EQ(get(mux, "/z/b").status, 404);
}

TEST(MuxTest, MethodAndPathPrecedenceDisagreeingConflicts) {
  ServeMux mux;
  mux.handle("GET /", Tagged{1});
  std::string msg = conflict_message(mux, "/index.html");
  EXPECT_THAT(msg, HasSubstr("\"/index.html\""));
  EXPECT_THAT(msg, HasSubstr("\"GET /\""));

  ServeMux mux2;
  mux2.handle("/index.html", Tagged{1});
  EXPECT_THAT(conflict_message(mux2, "GET /"), HasSubstr("\"/index.html\""));
}

TEST(MuxTest, EquivalentPatternsConflict) {
  struct Case {
    const char* first;
    const char* second;
  };
  for (Case c : {Case{"/a/{x}", "/a/{y}"}, Case{"/{x...}", "/"}, Case{"/p/{rest...}", "/p/"},
                 Case{"GET /x", "GET  /x"}, Case{"Host.Example/x", "host.example/x"}}) {
    ServeMux mux;
    mux.handle(c.first, Tagged{1});
    std::string msg = conflict_message(mux, c.second);
    EXPECT_THAT(msg, HasSubstr(c.first)) << c.second;
    EXPECT_THAT(msg, HasSubstr(c.second)) << c.first;
  }
}

TEST(MuxTest, DuplicatePatternThrows) {
  ServeMux mux;
  mux.handle("GET /items/{id}", Tagged{1});
  EXPECT_THROW(mux.handle("GET /items/{id}", Tagged{2}), std::invalid_argument);
  EXPECT_THAT(conflict_message(mux, "GET /items/{id}"), HasSubstr("already registered"));
  // The first registration still serves.
  EXPECT_EQ(tag_of(get(mux, "/items/1")), 1);
}

TEST(MuxTest, NonOverlappingPatternsCoexist) {
  ServeMux mux;
  EXPECT_NO_THROW({
    mux.handle("GET /x", Tagged{1});
    mux.handle("POST /x", Tagged{2});
    mux.handle("a.example/x", Tagged{3});
    mux.handle("b.example/x", Tagged{4});
    mux.handle("/x", Tagged{5});
    mux.handle("/x/", Tagged{6});
    mux.handle("/x/{$}", Tagged{7});
    mux.handle("/{a}", Tagged{8});
    mux.handle("/x/{b}", Tagged{9});
    mux.handle("/y/{rest...}", Tagged{10});
    mux.handle("HEAD /x", Tagged{11});
  });
  EXPECT_EQ(tag_of(mux.match("GET", "a.example", "/x")), 3);
  EXPECT_EQ(tag_of(mux.match("POST", "b.example", "/x")), 4);
  EXPECT_EQ(tag_of(mux.match("GET", "", "/x")), 1);
  EXPECT_EQ(tag_of(mux.match("POST", "", "/x")), 2);
  EXPECT_EQ(tag_of(mux.match("PUT", "", "/x")), 5);
  EXPECT_EQ(tag_of(mux.match("HEAD", "", "/x")), 11);
  EXPECT_EQ(tag_of(get(mux, "/x/")), 7);
  EXPECT_EQ(tag_of(get(mux, "/x/y")), 9);
  EXPECT_EQ(tag_of(get(mux, "/x/y/z")), 6);
  EXPECT_EQ(tag_of(get(mux, "/z")), 8);
  EXPECT_THAT(get(mux, "/y/a/b").values, ElementsAre(Pair("rest", "a/b")));
}

TEST(MuxTest, MalformedPatternsThrow) {
  for (const char* bad : {
           "",             // empty
           "GET",          // no path
           "example.com",  // no path
           "GET ",         // no path after the method
           "GE(T /x",      // method is not a token
           "host{x}/a",    // brace in the host
           "/a{x}",        // wildcard not a whole segment
           "/{x}a",        // wildcard not a whole segment
           "/{x",          // unterminated
           "/{}",          // empty name
           "/{...}",       // empty name
           "/{1x}",        // not an identifier
           "/{a-b}",       // not an identifier
           "/{x...}/y",    // rest wildcard not last
           "/{x...}/",     // rest wildcard not last
           "/{$}/a",       // {$} not last
           "/a/{$}/",      // {$} not last
           "/{x}/{x}",     // duplicate name
           "/{x}/{x...}",  // duplicate name
           "GET /a/../b",  // unclean path with a method can never match
           "GET /a//b",    // unclean path with a method can never match
           "POST /a/./b",  // unclean path with a method can never match
           "/a%2Fb",       // an escaped slash can never match a decoded path segment
       }) {
    ServeMux mux;
    EXPECT_THROW(mux.handle(bad, Tagged{1}), std::invalid_argument) << "pattern: " << bad;
  }
}

TEST(MuxTest, MalformedPatternMessageNamesThePattern) {
  ServeMux mux;
  EXPECT_THAT(conflict_message(mux, "/{x}/{x}"), HasSubstr("/{x}/{x}"));
}

TEST(MuxTest, EmptyHandlerThrows) {
  ServeMux mux;
  EXPECT_THROW(mux.handle("/x", Handler()), std::invalid_argument);
  EXPECT_EQ(get(mux, "/x").status, 404);
}

TEST(MuxTest, LenientPatternSpellingsAreAccepted) {
  ServeMux mux;
  EXPECT_NO_THROW(mux.handle("GET\t /tab", Tagged{1}));
  EXPECT_NO_THROW(mux.handle("PURGE /cache/{key}", Tagged{2}));
  EXPECT_NO_THROW(mux.handle("/{_under_score9}", Tagged{3}));
  EXPECT_NO_THROW(mux.handle("/a/../b", Tagged{4}));  // methodless: may serve CONNECT
  EXPECT_EQ(tag_of(get(mux, "/tab")), 1);
  EXPECT_EQ(get(mux, "/tab").pattern, "GET\t /tab");
  EXPECT_EQ(tag_of(mux.match("PURGE", "", "/cache/k")), 2);
  EXPECT_THAT(get(mux, "/v").values, ElementsAre(Pair("_under_score9", "v")));
}

TEST(MuxTest, CopiesShareRoutes) {
  ServeMux a;
  ServeMux b = a;
  a.handle("/shared", Tagged{1});
  EXPECT_EQ(tag_of(get(b, "/shared")), 1);
  b.handle("/other", Tagged{2});
  EXPECT_EQ(tag_of(get(a, "/other")), 2);
}

TEST(MuxTest, MatchKeepsItsTableAliveAfterLaterRegistrationsAndTheMuxIsGone) {
  RouteMatch m;
  {
    ServeMux mux;
    mux.handle("/items/{id}", Tagged{7});
    m = get(mux, "/items/5");
    for (int i = 0; i < 50; ++i) mux.handle("/r" + std::to_string(i), Tagged{i});
  }
  ASSERT_EQ(m.status, 0);
  EXPECT_EQ(m.pattern, "/items/{id}");
  EXPECT_EQ(tag_of(m), 7);
  ASSERT_EQ(m.values.size(), 1U);
  EXPECT_EQ(m.values[0].first, "id");
  EXPECT_EQ(m.values[0].second, "5");
}

TEST(MuxTest, ManyWildcardsInOnePattern) {
  std::string pattern, path;
  for (int i = 0; i < 40; ++i) {
    pattern += "/{w" + std::to_string(i) + "}";
    path += "/v" + std::to_string(i);
  }
  ServeMux mux;
  mux.handle(pattern, Tagged{1});
  mux.handle("/short/{a}", Tagged{2});
  RouteMatch m = get(mux, path);
  ASSERT_EQ(tag_of(m), 1);
  ASSERT_EQ(m.values.size(), 40U);
  EXPECT_EQ(m.values[39].first, "w39");
  EXPECT_EQ(m.values[39].second, "v39");
  EXPECT_THAT(get(mux, "/short/q").values, ElementsAre(Pair("a", "q")));
}

TEST(MuxTest, LongPathSubtreeRedirect) {
  std::string dir = "/" + std::string(600, 'd');
  ServeMux mux;
  mux.handle(dir + "/", Tagged{1});
  RouteMatch m = get(mux, dir);
  EXPECT_EQ(m.status, 301);
  EXPECT_EQ(m.redirect_to, dir + "/");
}

TEST(MuxTest, DefaultMuxIsOneInstance) {
  ServeMux& a = default_mux();
  ServeMux& b = default_mux();
  EXPECT_EQ(&a, &b);
  // The process-wide mux outlives the test: use a path no earlier run registered.
  static int run = 0;
  std::string probe = "/mux-test-default-probe/" + std::to_string(run++);
  a.handle(probe, Tagged{1});
  EXPECT_EQ(tag_of(get(b, probe)), 1);
}

TEST(MuxTest, RegisteringWhileMatchingOnOtherThreads) {
  ServeMux mux;
  mux.handle("/stable/{id}", Tagged{1000});
  mux.handle("GET /stable/fixed", Tagged{1001});

  constexpr int kRoutes = 300;
  constexpr int kReaders = 4;
  std::atomic<int> published{0};  // routes /dyn/0 .. /dyn/published-1 are registered
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<long> checks{0};

  auto reader = [&](int seed) {
    unsigned x = static_cast<unsigned>(seed) * 2654435761U + 1;
    while (!done.load(std::memory_order_acquire)) {
      RouteMatch s = get(mux, "/stable/abc");
      if (tag_of(s) != 1000 || s.values.size() != 1 || s.values[0].second != "abc") ++failures;
      if (tag_of(get(mux, "/stable/fixed")) != 1001) ++failures;

      // Everything published before this load must be visible to the match after it.
      int n = published.load(std::memory_order_acquire);
      if (n > 0) {
        x = x * 1103515245U + 12345U;
        int i = static_cast<int>(x % static_cast<unsigned>(n));
        RouteMatch d = get(mux, "/dyn/" + std::to_string(i));
        if (tag_of(d) != i || d.pattern != "/dyn/" + std::to_string(i)) ++failures;
      }
      // A route never registered is never found.
      if (get(mux, "/dyn/" + std::to_string(kRoutes + 5)).status != 404) ++failures;
      ++checks;
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(kReaders);
  for (int i = 0; i < kReaders; ++i) threads.emplace_back(reader, i);
  for (int i = 0; i < kRoutes; ++i) {
    mux.handle("/dyn/" + std::to_string(i), Tagged{i});
    published.store(i + 1, std::memory_order_release);
    if (i % 50 == 0) std::this_thread::yield();
  }
  // Let the readers run against the final table too.
  while (checks.load() < 1000) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kRoutes; ++i) EXPECT_EQ(tag_of(get(mux, "/dyn/" + std::to_string(i))), i);
}

}  // namespace
}  // namespace weft::http
