# Seed program #8 (seed document 002_…, the last program): a gevent echo
# server, one greenlet per client. Copied from the document with two changes:
#   - the document's handle_request sends with `coon.send(recvData)`, a typo
#     that raises NameError on the first message; `conn.send` is meant;
#   - the port: the document's 7788, or argv[1] (the check passes a free one).
# Ported one to one by examples/echo_server.cc; tests/examples/check_echo_server.sh
# runs both, drives each with the same client session and diffs what they
# print. Needs gevent (Debian's python3-gevent: /usr/bin/python3); run it with
# -u when its output goes to a pipe or a file, or it shows up only at exit.
#
#   /usr/bin/python3 -u examples/seeds/echo_server.py [PORT]    # then: nc 127.0.0.1 7788
import sys
import time
import gevent
#利用协程实现并发服务器
from gevent import socket, monkey
#gevent将耗时操作进行了重写,故重新导入
monkey.patch_all()
#底层修改源代码  实现gevent相关功能
def handle_request(conn):
    while True:
        recvData = conn.recv(1024)# 耗时操作
        if not recvData:
            conn.close()
            print("client was closed")
            break
        print("recv:", recvData)
        conn.send(recvData)  # the document: coon.send (a typo)
def sever(port):
    s = socket.socket()
    s.bind(('', port))
    s.listen(5)
    while True:
        cli, addr = s.accept() # 耗时操作
        print("new client from [%s] "%str(addr))
        # 遇到耗时操作自动切换协程
        gevent.spawn(handle_request, cli)
if __name__ == '__main__':
    sever(int(sys.argv[1]) if len(sys.argv) > 1 else 7788)  # the document: sever(7788)
#协程的实现中只有一个箭头,负责切换协程,箭头指向哪里执行哪里,遇到耗时操作将进行切换
