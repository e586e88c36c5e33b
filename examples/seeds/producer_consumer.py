# The Python original of examples/producer_consumer.cc: a producer (主人, the
# owner) feeds five bones (骨头) to two dogs, each a generator driven by
# send(). A dog is started with send(None), runs to its first yield, and from
# then on each send(bone) resumes it with a bone until its next yield, which
# hands back how many it has eaten. close() ends each dog with GeneratorExit
# at its yield. Each speaker prints in its own terminal colour.
#
#   python3 examples/seeds/producer_consumer.py
RESET = "\033[0m"
YELLOW = "\033[33m"  # 主人, the producer
GREEN = "\033[32m"   # 旺财
CYAN = "\033[36m"    # 小黑


def say(colour, text):
    print(f"{colour}{text}{RESET}")


def dog(name, colour):
    eaten = 0
    say(colour, f"[{name}] 摇着尾巴等骨头")
    try:
        while True:
            bone = yield eaten
            if bone is None:
                break
            eaten += 1
            say(colour, f"[{name}] 啃完第 {bone} 根骨头，一共吃了 {eaten} 根")
    except GeneratorExit:
        say(colour, f"[{name}] 吃饱了，趴下睡觉")
        raise


def producer(dogs, bones):
    for name, d in dogs:
        d.send(None)  # start the dog: it runs to its first yield
    for bone in range(1, bones + 1):
        name, d = dogs[(bone - 1) % len(dogs)]
        say(YELLOW, f"[主人] 把第 {bone} 根骨头扔给{name}")
        eaten = d.send(bone)
        say(YELLOW, f"[主人] {name}已经吃了 {eaten} 根")
    for name, d in dogs:
        d.close()
    say(YELLOW, "[主人] 骨头喂完了")


producer([("旺财", dog("旺财", GREEN)), ("小黑", dog("小黑", CYAN))], 5)
