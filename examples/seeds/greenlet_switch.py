# Seed programs #2 and #6, one after the other, as ported by
# examples/greenlet_switch.cc; tests/examples/check_greenlet_switch.sh diffs
# the two outputs. Needs greenlet (Debian's python3-greenlet: /usr/bin/python3).
#
#   /usr/bin/python3 examples/seeds/greenlet_switch.py [ROUNDS]
#
# #2 (seed document 000_…, "greenlet"), copied as it stands: 123 789 456 666.
from greenlet import greenlet
# greenlet 其实就是手动切换；gevent是对greenlet的封装，可以实现自动切换

def test1():
    print("123")
    gr2.switch()   # 切换去执行test2
    print("456")
    gr2.switch()   # 切换回test2之前执行到的位置，接着执行

def test2():
    print("789")
    gr1.switch()   # 切换回test1之前执行到的位置，接着执行
    print("666")


gr1 = greenlet(test1)   # 启动一个协程 注意test1不要加()
gr2 = greenlet(test2)   #
gr1.switch()


# #6 (seed document 002_…, "利用greenlet"), copied as it stands except that it
# ends: the document's test1 loops `while True`, here ROUNDS times (argv[1],
# default 5, as greenlet_switch --rounds), so the ping-pong prints ROUNDS
# pairs of ----A---- ----B---- and test1 then returns to the main greenlet.
# test2 stays `while True`: it never gets past its switch to test1 again.
import sys
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
from greenlet import greenlet
import time
def test1():
    for _ in range(rounds):  # the document: while True
        print('----A----')
        gr2.switch() #切换到gre2
        time.sleep(0.5)
def test2():
    while True:
        print('----B----')
        gr1.switch()
        time.sleep(0.5)
gr1 = greenlet(test1)
gr2 = greenlet(test2)
gr1.switch() #切换线程,执行gr1
