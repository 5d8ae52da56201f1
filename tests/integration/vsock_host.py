# Host side of Firecracker's hybrid vsock for the integration tests (python3, stdlib):
# helpers for the test guest's guest.test=vsock protocol. Import with
#   sys.path.insert(0, "<repo>/tests/integration"); import vsock_host
import socket
import time


def pat_host(k):
    """Byte k of the host's answer the guest checks (200 KiB to its port-5000 client)."""
    return (k * 13 + 7 + (k >> 10)) & 0xFF


def recv_all(s, limit=1 << 30):
    """Everything up to EOF (or limit bytes)."""
    chunks, n = [], 0
    while n < limit:
        b = s.recv(1 << 16)
        if not b:
            break
        chunks.append(b)
        n += len(b)
    return b"".join(chunks)


def wait_serial(path, text, timeout):
    """Whether text showed up in the console file within timeout s (it may not exist yet)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if text in open(path, "rb").read():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def connect(uds, port, timeout=30):
    """CONNECT to the guest's port: (socket, the answer line; b"" when refused)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    # Unbuffered: the echo's bytes after the line stay in the socket.
    return s, s.makefile("rb", buffering=0).readline(64)
