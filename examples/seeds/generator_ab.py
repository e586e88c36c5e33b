#-*- coding:utf-8 -*-
# Seed program #5 (seed document 002_…, "利用yield"), copied from the document
# as it stands (output: ----A---- None ----B---- ----A----, in ~1 s). Ported one
# to one by examples/generator_ab.cc; tests/examples/check_generator_ab.sh diffs
# the two outputs.
#
#   python3 examples/seeds/generator_ab.py
#协程的简单实现  python3.6
import time
def A():
    while True:
        print('----A----')
        yield #将A变为一个生成器,此时A已经不算一个函数了
        time.sleep(0.5)
def B(c):
    print('----B----')
    c.__next__() #利用next() 切换协程,将执行A中的代码块
    time.sleep(0.5)
if __name__ == '__main__':
    a = A()  # a代表生成器 此语句并不执行A()中的输出语句
    #第一次调用时必须先next()或send(None)
    #否则会报错,send后之所以为None是因为这时候没有上一个yield。可以认为,next()等同于send(None)。
    print(a.__next__())
    B(a)
#yield 是一个类似 return 的关键字,迭代一次遇到yield时就返回yield后面的值。
#重点是:下一次迭代时,从上一次迭代遇到的yield后面的代码开始执行。
#简要理解:yield就是 return 返回一个值,并且记住这个返回的位置,下次迭代就从这个位置后开始。
