# Counts the instructions of one pingpong round trip of runtime_bench, and the taken branches
# among them (jumps, calls and returns that leave the straight line, each of which ends a fetch
# block), by function, by stepping one machine thread through it under gdb. The figures do not
# depend on the machine's speed.
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
arch = gdb.selected_frame().architecture()
by_function = {}  # name -> [instructions, taken branches]
count = taken = 0
while count < 100000:
    pc = int(gdb.parse_and_eval("$pc"))
    insn = arch.disassemble(pc)[0]
    if trace:
        trace.write(f"{pc:#x}  {insn['asm']}\n")
    symbol = gdb.execute("info symbol $pc", to_string=True)
    name = symbol.split(" in section")[0].rsplit(" + ", 1)[0].strip()
    counts = by_function.setdefault(name, [0, 0])
    counts[0] += 1
    gdb.execute("stepi", to_string=True)
    count += 1
    next_pc = int(gdb.parse_and_eval("$pc"))
    if next_pc != pc + insn["length"]:
        counts[1] += 1
        taken += 1
    if next_pc == start_pc and int(gdb.parse_and_eval("$sp")) == start_sp:
        break
if trace:
    trace.close()

print(f"instructions per round trip: {count}, taken branches: {taken}")
for name, (n, t) in sorted(by_function.items(), key=lambda kv: -kv[1][0]):
    print(f"{n:6d} {t:5d}  {name}")
gdb.execute("kill")
