# The gevent original of examples/gevent_sleep.cc: three greenlets that sleep
# 2, 1 and 0 seconds. All three start before any finishes, and the whole run
# takes about 2 s (the longest sleep), not 3 (the sum).
#
#   python3 examples/seeds/gevent_sleep.py [scale]
#
# `scale` (default 1) multiplies every sleep, as --scale does for the C++ port.
import sys

import gevent

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def func1():
    print("func1 running")
    gevent.sleep(2 * scale)
    print("switch func1")


def func2():
    print("func2 running")
    gevent.sleep(1 * scale)
    print("switch func2")


def func3():
    print("func3 running")
    gevent.sleep(0)
    print("func3 done..")


gevent.joinall([
    gevent.spawn(func1),
    gevent.spawn(func2),
    gevent.spawn(func3),
])
