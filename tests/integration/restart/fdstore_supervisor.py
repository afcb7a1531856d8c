#!/usr/bin/env python3
"""A stand-in for systemd's service manager, for what a crash test needs
(PID 1 is not systemd here): the notification socket, the file
descriptor store, and Restart=on-failure.

    fdstore_supervisor.py [--notify-access=all] STATE_DIR -- COMMAND...

It binds $NOTIFY_SOCKET (STATE_DIR/notify.sock), starts COMMAND with it,
and records every notification line in STATE_DIR/notify.log.  As the
unit's NotifyAccess=main, a message from another process than the main
one is refused (logged as "REFUSED pid=N: FIRST LINE", its fds closed),
unless --notify-access=all; a BARRIER=1 is answered from anyone, as
systemd does (manager_dispatch_notify_fd).  FDSTORE=1
with FDNAME=NAME keeps the fds that came with the message (SCM_RIGHTS)
under NAME; FDSTOREREMOVE=1 with FDNAME=NAME closes and drops them;
MAINPID=N makes N the service's main process (a restart without
unmount announces the new one so), and BARRIER=1 is answered by closing
its fd.  It is a child subreaper, as systemd is for its services: a new
main process started by the old one is reaped here too.  When the main
process dies of a signal or exits non-zero, COMMAND is started again at
once with the stored fds as systemd passes them: fds 3.., LISTEN_FDS,
LISTEN_PID (the new process's pid) and LISTEN_FDNAMES.  A clean exit (0)
ends the supervisor, which closes what it stored.  STATE_DIR/pid holds the
main pid, STATE_DIR/starts the number of starts.  It also ends after an
hour.
"""
import array
import ctypes
import fcntl
import os
import socket
import sys
import time


class Supervisor:
    def __init__(self, state, command, notify_access):
        self.notify_access = notify_access
        self.state = state
        self.command = command
        self.store = {}  # name -> [fd]
        self.main = None
        self.starts = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.path = os.path.join(state, "notify.sock")
        self.sock.bind(self.path)
        # The sender's pid with every message, as systemd gets it.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.05)
        self.log = open(os.path.join(state, "notify.log"), "a", buffering=1)

    def write_state(self, name, value):
        tmp = os.path.join(self.state, name + ".tmp")
        with open(tmp, "w") as out:
            out.write("%s\n" % value)
        os.rename(tmp, os.path.join(self.state, name))

    def start(self):
        names = sorted(self.store)
        fds = [fd for name in names for fd in self.store[name]]
        fdnames = [name for name in names for _ in self.store[name]]
        pid = os.fork()
        if pid == 0:
            self.exec_child(fds, fdnames)
        self.main = pid
        self.starts += 1
        self.write_state("pid", pid)
        self.write_state("starts", self.starts)
        self.log.write("START pid=%d fds=%s\n" % (pid, ":".join(fdnames)))

    def exec_child(self, fds, fdnames):
        env = dict(os.environ, NOTIFY_SOCKET=self.path)
        # Move the stored fds out of the way, then to 3, 4, ...
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000 + i)
                for i, fd in enumerate(fds)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
        if fds:
            env["LISTEN_FDS"] = str(len(fds))
            env["LISTEN_PID"] = str(os.getpid())
            env["LISTEN_FDNAMES"] = ":".join(fdnames)
        os.closerange(3 + len(fds), 4096)
        os.execvpe(self.command[0], self.command, env)

    def receive(self):
        try:
            msg, ancdata, _, _ = self.sock.recvmsg(
                4096, socket.CMSG_SPACE(16 * array.array("i").itemsize) +
                socket.CMSG_SPACE(3 * array.array("i").itemsize))
        except socket.timeout:
            return
        fds = array.array("i")
        sender = None
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
            elif (level == socket.SOL_SOCKET and
                  kind == socket.SCM_CREDENTIALS):
                sender = array.array("i", data[:12])[0]
        # systemd answers a barrier before it looks at who sent it.
        barrier = msg.decode().splitlines() == ["BARRIER=1"]
        if self.notify_access == "main" and sender != self.main and \
                not barrier:
            first = msg.decode().splitlines()[0] if msg else ""
            self.log.write("REFUSED pid=%s: %s\n" % (sender, first))
            for fd in fds:
                os.close(fd)
            return
        fields = dict(line.split("=", 1) for line in msg.decode().splitlines()
                      if "=" in line)
        for line in msg.decode().splitlines():
            self.log.write(line + "\n")
        name = fields.get("FDNAME", "stored")
        if fields.get("FDSTORE") == "1":
            self.store.setdefault(name, []).extend(fds)
            self.log.write("STORED %s (%d fds)\n" % (name, len(fds)))
            return
        for fd in fds:
            os.close(fd)
        if fields.get("FDSTOREREMOVE") == "1":
            for fd in self.store.pop(name, []):
                os.close(fd)
            self.log.write("REMOVED %s\n" % name)
        if "MAINPID" in fields:
            self.main = int(fields["MAINPID"])
            self.write_state("pid", self.main)

    def main_exit(self):
        """None while the main process runs, else how it ended.  Every
        process that ends is reaped (a subreaper gets the orphans)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            self.log.write("REAPED pid=%d status=%d\n" % (pid, status))
            if pid == self.main:
                return status

    def run(self):
        PR_SET_CHILD_SUBREAPER = 36
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1,
                                                0, 0, 0)
        self.start()
        deadline = time.time() + 3600
        while time.time() < deadline:
            self.receive()
            status = self.main_exit()
            if status is None:
                continue
            clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            self.log.write("EXIT status=%d clean=%s\n" % (status, clean))
            if clean:
                break
            self.start()
        for fds in self.store.values():
            for fd in fds:
                os.close(fd)
        return 0


def main():
    args = sys.argv[1:sys.argv.index("--")]
    access = "main"
    if args and args[0].startswith("--notify-access="):
        access = args.pop(0).split("=", 1)[1]
    state = args[0]
    command = sys.argv[sys.argv.index("--") + 1:]
    return Supervisor(state, command, access).run()


if __name__ == "__main__":
    sys.exit(main())
