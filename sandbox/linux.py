"""Thin ctypes wrappers over the Linux calls the sandbox needs (Python 3.11 has no os.unshare).

unshare, mount, umount2, pivot_root, sethostname, prctl and a seccomp-BPF
deny-list filter. Nothing here decides policy; see :mod:`sandbox.policy`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
import struct

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000
NS_FLAGS = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
SECCOMP_MODE_FILTER = 2


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(155 if platform.machine() == "x86_64" else 41, new_root.encode(), put_old.encode()), "pivot_root")


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_libc.sethostname(b, ctypes.c_size_t(len(b))), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    _check(
        _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
        "prctl",
    )


@functools.cache
def cap_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 63


def drop_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable capability sets of this process."""
    for cap in range(cap_last_cap() + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all zero
    hbuf = ctypes.create_string_buffer(header, len(header))
    dbuf = ctypes.create_string_buffer(data, len(data))
    _check(_libc.capset(hbuf, dbuf), "capset")


# --------------------------------------------------------------------------- seccomp

AUDIT_ARCH_X86_64 = 0xC000003E
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
EPERM = 1
ENOSYS = 38

# x86_64 syscall numbers a judged program never needs.
DENIED_SYSCALLS_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
    "pivot_root": 155, "chroot": 161, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "init_module": 175, "delete_module": 176, "finit_module": 313, "kexec_load": 246,
    "kexec_file_load": 320, "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298, "keyctl": 250,
    "add_key": 248, "request_key": 249, "userfaultfd": 323, "open_by_handle_at": 304, "name_to_handle_at": 303,
    "acct": 163, "quotactl": 179, "lookup_dcookie": 212, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442, "syslog": 103, "vhangup": 153, "iopl": 172,
    "ioperm": 173, "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "personality": 135,
    # watches on the shared read-only runtime dirs would show other runs' (and the host's) file activity
    "inotify_init": 253, "inotify_add_watch": 254, "inotify_init1": 294, "fanotify_init": 300, "fanotify_mark": 301,
}
_SYS_CLONE = 56
_SYS_CLONE3 = 435
_SYS_SOCKET = 41
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """Bring ``lo`` up in this (new, empty) network namespace: loopback only, no other device or route."""
    import fcntl
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sh22x", b"lo", 0))
        flags = struct.unpack("16sh22x", req)[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


ALLOWED_SOCKET_FAMILIES = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6 (the net namespace has no route anyway)


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


@functools.cache
def build_filter() -> bytes:
    """A BPF program: deny-list of syscalls (EPERM), no namespace flags in clone, few socket families."""
    LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    prog: list[tuple] = []
    # labels resolved after: entries are (code, jt_label|int, jf_label|int, k)
    prog.append((LD_W_ABS, 0, 0, 4))  # arch
    prog.append((JEQ, 1, 0, AUDIT_ARCH_X86_64))
    prog.append((RET, 0, 0, _RET_KILL_PROCESS))
    prog.append((LD_W_ABS, 0, 0, 0))  # nr
    prog.append((JGE, "deny", 0, 0x40000000))  # x32 ABI
    for nr in sorted(DENIED_SYSCALLS_X86_64.values()):
        prog.append((JEQ, "deny", 0, nr))
    prog.append((JEQ, "enosys", 0, _SYS_CLONE3))
    prog.append((JEQ, 0, "not_clone", _SYS_CLONE))
    prog.append((LD_W_ABS, 0, 0, 16))  # clone flags (low 32 bits of arg0)
    prog.append((JSET, "deny", "allow", NS_FLAGS))
    prog.append(("label", "not_clone"))
    prog.append((JEQ, 0, "allow", _SYS_SOCKET))
    prog.append((LD_W_ABS, 0, 0, 16))  # socket family
    for fam in ALLOWED_SOCKET_FAMILIES:
        prog.append((JEQ, "allow", 0, fam))
    prog.append((RET, 0, 0, _RET_ERRNO | EPERM))
    prog.append(("label", "allow"))
    prog.append((RET, 0, 0, _RET_ALLOW))
    prog.append(("label", "deny"))
    prog.append((RET, 0, 0, _RET_ERRNO | EPERM))
    prog.append(("label", "enosys"))
    prog.append((RET, 0, 0, _RET_ERRNO | ENOSYS))
    # resolve labels
    labels: dict[str, int] = {}
    real: list[tuple] = []
    for ins in prog:
        if ins[0] == "label":
            labels[ins[1]] = len(real)
        else:
            real.append(ins)
    out = b""
    for pc, (code, jt, jf, k) in enumerate(real):
        jt = labels[jt] - pc - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - pc - 1 if isinstance(jf, str) else jf
        assert 0 <= jt < 256 and 0 <= jf < 256
        out += _ins(code, jt, jf, k)
    return out


def install_seccomp() -> None:
    """Install the filter on this thread's process (needs no_new_privs or CAP_SYS_ADMIN)."""
    if platform.machine() != "x86_64":
        raise OSError(ENOSYS, f"seccomp filter is defined for x86_64 only, not {platform.machine()}")
    code = build_filter()
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(code) // 8, ctypes.addressof(buf))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(
        _libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0),
        "seccomp",
    )


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


IPC_RMID = 0


def remove_sysv_ipc() -> int:
    """Remove every SysV shared-memory segment, semaphore set and message queue of this IPC namespace
    (listed by the /proc mounted in this mount namespace); returns how many there were."""
    n = 0
    for kind, rm in (
        ("shm", lambda i: _libc.shmctl(ctypes.c_int(i), IPC_RMID, None)),
        ("sem", lambda i: _libc.semctl(ctypes.c_int(i), 0, IPC_RMID)),
        ("msg", lambda i: _libc.msgctl(ctypes.c_int(i), IPC_RMID, None)),
    ):
        with open(f"/proc/sysvipc/{kind}") as f:
            rows = f.read().splitlines()[1:]
        for row in rows:
            _check(rm(int(row.split()[1])), f"removing SysV {kind}")
            n += 1
    return n


_SYS_FSOPEN, _SYS_FSCONFIG, _SYS_FSMOUNT, _SYS_MOVE_MOUNT = 430, 431, 432, 429
_FSCONFIG_SET_STRING, _FSCONFIG_CMD_CREATE = 1, 6
_MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x2, 0x4
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100


def _sys(nr: int, *args) -> int:
    ret = _libc.syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syscall {nr}: {os.strerror(err)}")
    return ret


def detached_tmpfs(options: dict[str, str]) -> int:
    """A new tmpfs, mounted nowhere yet (nosuid, nodev): an fd of its root (reach it as /proc/self/fd/N)."""
    fs = _sys(_SYS_FSOPEN, b"tmpfs", 1)  # FSOPEN_CLOEXEC
    try:
        for key, value in options.items():
            _sys(_SYS_FSCONFIG, fs, _FSCONFIG_SET_STRING, key.encode(), value.encode(), 0)
        _sys(_SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0)
        return _sys(_SYS_FSMOUNT, fs, 1, _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV)  # FSMOUNT_CLOEXEC
    finally:
        os.close(fs)


def move_mount(fd: int, target: str) -> None:
    """Attach the mount ``fd`` (from :func:`detached_tmpfs`) at ``target`` in this mount namespace."""
    _sys(_SYS_MOVE_MOUNT, fd, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH)
