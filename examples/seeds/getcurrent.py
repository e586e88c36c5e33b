# The gevent original of examples/getcurrent.cc: three greenlets print
# gevent.getcurrent() and a counter. Without a sleep each runs to the end in
# turn (nothing makes it give up control); with gevent.sleep(0) after each
# line they take turns.
#
#   python3 examples/seeds/getcurrent.py
import gevent


def f(n):
    for i in range(n):
        print(gevent.getcurrent(), i)


def f_sleep(n):
    for i in range(n):
        print(gevent.getcurrent(), i)
        gevent.sleep(0)


print("without sleep:")
g1 = gevent.spawn(f, 5)
g2 = gevent.spawn(f, 5)
g3 = gevent.spawn(f, 5)
g1.join()
g2.join()
g3.join()

print("with sleep(0):")
g1 = gevent.spawn(f_sleep, 5)
g2 = gevent.spawn(f_sleep, 5)
g3 = gevent.spawn(f_sleep, 5)
g1.join()
g2.join()
g3.join()
