# The Python original of examples/greenlet_switch.cc (needs the greenlet
# module: Debian's python3-greenlet, or pip install greenlet).
#
# Part 1, greenlet's classic: test1 prints 123 and switches to test2, which
# prints 789 and switches back; test1 prints 456 and ends, returning to its
# parent (the main greenlet), which switches to test2 again: 666.
# Part 2, the A/B ping-pong: two greenlets switching to each other, endless
# in the seed, here --rounds rounds (default 5).
#
#   python3 examples/seeds/greenlet_switch.py [--rounds=N]
import argparse

from greenlet import greenlet

parser = argparse.ArgumentParser()
parser.add_argument("--rounds", type=int, default=5)
rounds = parser.parse_args().rounds


def test1():
    print(123)
    gr2.switch()
    print(456)


def test2():
    print(789)
    gr1.switch()
    print(666)


gr1 = greenlet(test1)
gr2 = greenlet(test2)
gr1.switch()
gr2.switch()


def a():
    for i in range(1, rounds + 1):
        print(f"A{i}")
        gb.switch()


def b():
    i = 0
    while True:
        i += 1
        print(f"B{i}")
        ga.switch()


ga = greenlet(a)
gb = greenlet(b)
ga.switch()
