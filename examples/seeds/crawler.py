# Seed program #4 (document 000_…, "爬虫的情况"), copied from the document as
# it stands, except where there is no internet here: the URLs point at a
# local slow HTTP server this script starts (each page answers after
# --delay seconds; --urls of them instead of the three sites), and the three
# spawns become one per URL. Ported one to one by examples/crawler.cc;
# tests/examples/check_crawler.sh diffs the two outputs. Needs gevent
# (Debian's python3-gevent: /usr/bin/python3).
#
#   /usr/bin/python3 examples/seeds/crawler.py --urls=10 --delay=0.2   # ~2 s, then ~0.2 s
from urllib import request
import gevent,time
from gevent import monkey

monkey.patch_all()    # 把当前程序中的所有io操作都做上标记

import argparse
from gevent.pywsgi import WSGIServer

parser = argparse.ArgumentParser()
parser.add_argument('--urls', type=int, default=3)
parser.add_argument('--delay', type=float, default=1.0, help='seconds')
args = parser.parse_args()


def slow_app(environ, start_response):
    # The same page as examples/crawler.cc's server: /slow/N, after --delay.
    page = environ['PATH_INFO'][len('/slow/'):]
    gevent.sleep(args.delay)
    body = ('slow page %s, answered after %d ms\n' % (page, round(args.delay * 1000))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]


server = WSGIServer(('127.0.0.1', 0), slow_app, log=None)
server.start()

def spider(url):
    print("GET:%s" % url)
    resp = request.urlopen(url)
    data = resp.read()
    print("%s bytes received from %s.." % (len(data), url))

urls = ["http://127.0.0.1:%d/slow/%d" % (server.server_port, i) for i in range(1, args.urls + 1)]

start_time = time.time()
for url in urls:
    spider(url)
print("同步耗时：",time.time() - start_time)

async_time_start = time.time()
gevent.joinall([gevent.spawn(spider, url) for url in urls])
print("异步耗时：",time.time() - async_time_start)
