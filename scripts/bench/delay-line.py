#!/usr/bin/env python3
"""A long link for bench-relay.ts, since this kernel has no netem: two TAP devices, IF_A in
namespace NS_A and IF_B in NS_B, whose frames are held DELAY_MS each way before they are passed
on, so TCP sees a real round trip of twice that. The devices come up with MTU but no address;
the caller bridges or addresses them. Prints 'ready', then runs until killed.

Usage: delay-line.py NS_A IF_A NS_B IF_B DELAY_MS MTU"""
import fcntl, os, select, struct, subprocess, sys, time
from collections import deque

TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
QUEUE_FRAMES = 200000  # beyond this a frame is dropped, as a router's full queue drops it


def tap(name, ns, mtu):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TAP | IFF_NO_PI))
    subprocess.run(['ip', 'link', 'set', name, 'netns', ns], check=True)
    subprocess.run(['ip', '-n', ns, 'link', 'set', name, 'mtu', str(mtu), 'up'], check=True)
    return fd


def main():
    ns_a, if_a, ns_b, if_b = sys.argv[1:5]
    delay, mtu = float(sys.argv[5]) / 1000, int(sys.argv[6])
    fa, fb = tap(if_a, ns_a, mtu), tap(if_b, ns_b, mtu)
    queues = {fa: deque(), fb: deque()}  # frames read from this fd, due to go to the other
    other = {fa: fb, fb: fa}
    poll = select.poll()
    poll.register(fa, select.POLLIN)
    poll.register(fb, select.POLLIN)
    print('ready', flush=True)
    while True:
        now = time.monotonic()
        due = min((q[0][0] for q in queues.values() if q), default=None)
        timeout = None if due is None else max(0, (due - now) * 1000)
        for fd, _ in poll.poll(timeout):
            q = queues[fd]
            for _ in range(256):
                try:
                    frame = os.read(fd, mtu + 64)
                except BlockingIOError:
                    break
                if len(q) < QUEUE_FRAMES:
                    q.append((time.monotonic() + delay, frame))
        now = time.monotonic()
        for fd, q in queues.items():
            while q and q[0][0] <= now:
                try:
                    os.write(other[fd], q.popleft()[1])
                except (BlockingIOError, OSError):
                    pass


main()
