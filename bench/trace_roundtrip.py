# Counts the instructions of one pingpong round trip of runtime_bench, by function, by stepping
# one machine thread through it under gdb. The figure does not depend on the machine's speed.
#
#   WEFT_MAXPROCS=1 gdb -q -batch -x bench/trace_roundtrip.py build/release/bench/runtime_bench
#
# It lets 200 sends pass (so the channel locks are biased and the loop is in its steady
# state), then single-steps from the main task's entry into ChanCore::send until that task is
# back at the same instruction with the same stack pointer: one round trip, both tasks' halves.
# With TRACE_FILE set in the environment it also writes every instruction executed there.
import os

import gdb

gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("starti pingpong")
gdb.execute("break weft::detail::ChanCore::send")
gdb.execute("continue")
for _ in range(200):
    gdb.execute("continue", to_string=True)
gdb.execute("delete")
gdb.execute("set scheduler-locking step")

start_pc = int(gdb.parse_and_eval("$pc"))
start_sp = int(gdb.parse_and_eval("$sp"))
trace = open(os.environ["TRACE_FILE"], "w") if os.environ.get("TRACE_FILE") else None
by_function = {}
count = 0
while count < 100000:
    if trace:
        trace.write(gdb.execute("x/i $pc", to_string=True).replace("=> ", "").strip() + "\n")
    symbol = gdb.execute("info symbol $pc", to_string=True)
    name = symbol.split(" in section")[0].rsplit(" + ", 1)[0].strip()
    by_function[name] = by_function.get(name, 0) + 1
    gdb.execute("stepi", to_string=True)
    count += 1
    if int(gdb.parse_and_eval("$pc")) == start_pc and int(gdb.parse_and_eval("$sp")) == start_sp:
        break
if trace:
    trace.close()

print(f"instructions per round trip: {count}")
for name, n in sorted(by_function.items(), key=lambda kv: -kv[1]):
    print(f"{n:6d}  {name}")
gdb.execute("kill")
