#-*- coding:utf-8 -*-
# Seed program #7 (seed document 002_…, "gevent"), copied from the document as
# it stands: three greenlets print gevent.getcurrent() and i, one after
# another. The document also shows the run with the `#gevent.sleep(1)` line
# uncommented (then they take turns, one line each a second);
# tests/examples/check_getcurrent.sh makes that form with sed. Ported one to
# one by examples/getcurrent.cc (`--sleep` for the second form). Needs gevent
# (Debian's python3-gevent: /usr/bin/python3).
#
#   /usr/bin/python3 examples/seeds/getcurrent.py
import gevent
def f(n):
    for i in range(n):
        print(gevent.getcurrent(), i)
        #gevent.sleep(1)
        # 该语句是耗时操作,gevent会检测到并且切换线程的执行
g1 = gevent.spawn(f, 5)
g2 = gevent.spawn(f, 5)
g3 = gevent.spawn(f, 5)
g1.join()
g2.join()
g3.join()
