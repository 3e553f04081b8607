# pty_drive.py: runs a program on a pseudo-terminal and plays a script
# against it, as a person at a keyboard would; test_shell.lua uses it to
# check readline, Tab and Ctrl-C in `tycho shell`.
#
# usage: python3 pty_drive.py PROGRAM [ARGS...] -- STEP...
# steps: s:TEXT  send TEXT (Python escapes: \t Tab, \x03 Ctrl-C, \x04 Ctrl-D)
#        e:REGEX wait (10 s at most) until output since the last match has REGEX
#        w:SEC   sleep
#        x:CODE  wait for the program to exit with CODE
# Exits 0 when every step passes; else prints the failing step and the
# output it saw, and exits 1.
import codecs
import os
import pty
import re
import select
import sys
import time


def main():
    argv = sys.argv[1:]
    sep = argv.index("--")
    prog, steps = argv[:sep], argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "dumb"       # no escape sequences to match around
        os.execvp(prog[0], prog)
    buf = b""
    status = None

    def pump(timeout):
        nonlocal buf
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:                # EIO: the child closed the terminal
                return False
            if not data:
                return False
            buf += data
        return True

    for i, step in enumerate(steps):
        kind, arg = step[0], step[2:]
        if kind == "s":
            os.write(fd, codecs.decode(arg, "unicode_escape").encode("latin-1"))
        elif kind == "w":
            end = time.time() + float(arg)
            while time.time() < end:
                pump(max(0.0, end - time.time()))
        elif kind == "e":
            rx = re.compile(arg.encode())
            end = time.time() + 10
            m = rx.search(buf)
            while not m and time.time() < end:
                if not pump(0.1):
                    break
                m = rx.search(buf)
            if not m:
                print("FAIL step %d %r; output: %r" % (i + 1, step, buf[-400:]))
                os.kill(pid, 9)
                return 1
            buf = buf[m.end():]
        elif kind == "x":
            end = time.time() + 10
            while time.time() < end:
                pump(0.1)
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = os.waitstatus_to_exitcode(st)
                    break
            if status != int(arg):
                print("FAIL step %d %r: exit %r; output: %r" % (i + 1, step, status, buf[-400:]))
                if status is None:
                    os.kill(pid, 9)
                return 1
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
