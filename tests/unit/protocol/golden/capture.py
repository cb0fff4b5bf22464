"""Captures golden request bytes from real Kafka clients.

A TCP proxy sits between a client and a running broker (Riacho or Apache Kafka) and saves the
first request frame of every (api key, version, client) it sees as
`<client>-<api key>-v<version>.bin` (the frame without its size prefix). The unit test
tests/unit/protocol/golden_test.cc decodes every file with the generated decoders.

Usage: capture.py <broker host:port> <proxy port> <client name> <out dir> -- <command with {bootstrap}>
Start the broker with advertised.listeners=PLAINTEXT://127.0.0.1:<proxy port> so that clients
keep talking through the proxy after their first Metadata request.
"""
import os
import socket
import struct
import subprocess
import sys
import threading


def pipe(src, dst, on_frame=None):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if on_frame is None:
                continue
            buf += data
            while len(buf) >= 4:
                (n,) = struct.unpack(">i", buf[:4])
                if len(buf) < 4 + n:
                    break
                on_frame(buf[4:4 + n])
                buf = buf[4 + n:]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    upstream, proxy_port, client, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    command = sys.argv[sys.argv.index("--") + 1:]
    host, port = upstream.rsplit(":", 1)
    os.makedirs(out_dir, exist_ok=True)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", proxy_port))
    listener.listen(64)
    proxy = "127.0.0.1:%d" % listener.getsockname()[1]

    def save(frame):
        api_key, version = struct.unpack(">hh", frame[:4])
        path = os.path.join(out_dir, "%s-%d-v%d.bin" % (client, api_key, version))
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(frame)

    def accept():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            u = socket.create_connection((host, int(port)))
            threading.Thread(target=pipe, args=(c, u, save), daemon=True).start()
            threading.Thread(target=pipe, args=(u, c), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    rc = subprocess.call([a.replace("{bootstrap}", proxy) for a in command])
    listener.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
