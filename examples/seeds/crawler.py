"""The gevent crawler that examples/crawler.cc mirrors.

Starts a local HTTP server with a few slow URLs (each answers after --delay
seconds), fetches them one after another, then all at once with one
greenlet per URL, and prints every fetch and both times:

    python3 crawler.py --urls=3 --delay=1
    Serving 3 slow URLs on 127.0.0.1:PORT, each answering after 1s
    GET http://127.0.0.1:PORT/slow/1: 200, 31 bytes
    ...
    sequential: 3 fetches in 3.006 s
    ...
    concurrent: 3 fetches in 1.004 s

monkey.patch_all() makes urllib's blocking socket calls yield to other
greenlets, so the concurrent fetches wait together.
"""
from gevent import monkey

monkey.patch_all()

import argparse
import time
from urllib.request import urlopen

import gevent
from gevent.pywsgi import WSGIServer


def make_app(delay, pages):
    def app(environ, start_response):
        path = environ['PATH_INFO']
        page = path[len('/slow/'):]
        if not path.startswith('/slow/') or not page.isdigit() or not 1 <= int(page) <= pages:
            start_response('404 Not Found', [('Content-Type', 'text/plain')])
            return [b'no such page\n']
        gevent.sleep(delay)  # the slow part: parks this greenlet only
        body = ('slow page %s, answered after %gs\n' % (page, delay)).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    return app


def fetch(url):
    try:
        with urlopen(url, timeout=10) as response:
            data = response.read()
            print('GET %s: %d, %d bytes' % (url, response.status, len(data)))
            return response.status == 200
    except Exception as e:
        print('GET %s: error: %s' % (url, e))
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--urls', type=int, default=3)
    parser.add_argument('--delay', type=float, default=1.0, help='seconds')
    args = parser.parse_args()

    server = WSGIServer(('127.0.0.1', 0), make_app(args.delay, args.urls), log=None)
    server.start()
    where = '127.0.0.1:%d' % server.server_port
    print('Serving %d slow URLs on %s, each answering after %gs' % (args.urls, where, args.delay))
    urls = ['http://%s/slow/%d' % (where, i) for i in range(1, args.urls + 1)]

    start = time.time()
    ok = [fetch(url) for url in urls]
    print('sequential: %d fetches in %.3f s' % (len(urls), time.time() - start))

    start = time.time()
    jobs = [gevent.spawn(fetch, url) for url in urls]
    gevent.joinall(jobs)
    ok += [job.value for job in jobs]
    print('concurrent: %d fetches in %.3f s' % (len(urls), time.time() - start))

    server.stop()
    return 0 if all(ok) else 1


if __name__ == '__main__':
    raise SystemExit(main())
