# The Python original of examples/generator_ab.cc: two generators, A and B,
# taking turns. Each prints a line and yields; a round-robin loop resumes
# whichever is next until both have finished, so their lines interleave:
# A1 B1 A2 B2 A3 B3.
#
#   python3 examples/seeds/generator_ab.py
from collections import deque


def task(name, steps):
    for i in range(1, steps + 1):
        print(f"{name}{i}")
        yield


def run(tasks):
    ready = deque(tasks)
    while ready:
        t = ready.popleft()
        try:
            next(t)
            ready.append(t)
        except StopIteration:
            pass
    print("all done")


run([task("A", 3), task("B", 3)])
