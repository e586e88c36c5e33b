# Seed program #3 (document 000_…, "gevent 实现协程"), copied from the document
# as it stands. Ported one to one by examples/gevent_sleep.cc;
# tests/examples/check_gevent_sleep.sh diffs the two outputs. Needs gevent
# (Debian's python3-gevent: /usr/bin/python3).
#
#   /usr/bin/python3 examples/seeds/gevent_sleep.py     # ~2 s
import gevent

def func1():
    print("func1 running")
    gevent.sleep(2)             # 内部函数实现io操作
    print("switch func1")

def func2():
    print("func2 running")
    gevent.sleep(1)
    print("switch func2")

def func3():
    print("func3  running")
    gevent.sleep(0)
    print("func3 done..")

gevent.joinall([gevent.spawn(func1),
                gevent.spawn(func2),
                gevent.spawn(func3),
                ])
