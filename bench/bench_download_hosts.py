"""Downloads from many hosts: 10,000 files of 20 KiB whose URLs name 1,000
and then 10,000 different hosts, every client writing every body to its own
file.

The throughput benchmark fetches from one host, where every client keeps
its connections; here each host has a few files or one, so the clients
open a connection for most files and their caches of connections and DNS
answers fill with hosts that are done.  The hosts are names "hN.localhost",
all served by one local nginx (bench_download_throughput.Nginx, with room
for 32,768 connections): libcurl resolves "*.localhost" to the loopback
address by itself, and the aiohttp client is given a resolver that does the
same (glibc resolves only "localhost").  Each host gets the same number of
files, and the URLs come in a shuffled order (seeded), as in a list of
links gathered from many sites.

Contenders, each in a child process of its own (bench/download_clients.py,
CPU from getrusage of the child, nginx excluded): ungil.download
(concurrency 100, one loop per CPU); pycurl's CurlMulti with 100 handles
driven by socket_action on an epoll set (pycurl_socket: the select() loop
of the throughput benchmark stalls once socket numbers pass FD_SETSIZE,
which libcurl's idle connections to done hosts bring about); aiohttp (one
session, connector limit 100, tasks admitted by a semaphore of 100: with
the connector's limit alone, aiohttp 3.14 wakes its waiters by walking a
queue per host, and 10,000 hosts took it 41 s instead of 6).  Both curl
clients run at their defaults (a DNS answer kept 60 s, which libcurl
enforces by walking its whole DNS cache after every transfer) and again
with answers kept for the run (ungil: dns_cache=None; pycurl:
DNS_CACHE_TIMEOUT -1), the setting a batch over many hosts would choose.

No issue sets a target here; the ratios are files per second against
pycurl on socket_action.

Environment: DL_HOSTS_FILES (10000), DL_HOSTS ("1000,10000"),
BENCH_ROUNDS.
"""

import os
import random
import shutil
import tempfile
import urllib.request
from pathlib import Path

import bench_download_throughput as bt
import download_clients as dc
import harness

N_FILES = int(os.environ.get("DL_HOSTS_FILES", "10000"))
HOST_COUNTS = [int(h) for h in
               os.environ.get("DL_HOSTS", "1000,10000").split(",")]
CONCURRENCY = 100
ROUNDS = harness.rounds(5)
SAMPLE_EVERY = 50
NGINX_CONNECTIONS = 32768


def host_urls(nginx, names, hosts):
    """The URL of each file on one of `hosts` host names, each name
    serving len(names) / hosts files, in a seeded shuffled order of
    hosts."""
    owner = [i % hosts for i in range(len(names))]
    random.Random(hosts).shuffle(owner)
    local = f"127.0.0.1:{nginx.port}"
    return [nginx.url(n).replace(local, f"h{h}.localhost:{nginx.port}", 1)
            for n, h in zip(names, owner)]


def main():
    facts = harness.machine()
    tmp = dc.tmp_root()
    work = Path(tempfile.mkdtemp(prefix="bench-dl-hosts-", dir=tmp))
    nginx = None
    groups = []
    try:
        root = work / "root"
        root.mkdir()
        names = bt.make_files(root, N_FILES)
        nginx = bt.Nginx(root, work / "nginx", connections=NGINX_CONNECTIONS)
        with urllib.request.urlopen(nginx.url(names[0])) as response:
            assert response.read() == (root / names[0]).read_bytes()
        clients_tmp = work / "clients"
        clients_tmp.mkdir()
        loops = os.cpu_count() or 1
        ungil_name = (f"ungil.download (concurrency {CONCURRENCY}, "
                      f"{loops} loops)")
        ungil_dns_name = f"{ungil_name}, DNS answers kept for the run"
        pycurl_name = (f"pycurl CurlMulti ({CONCURRENCY} handles), "
                       "socket_action + epoll")
        pycurl_dns_name = f"{pycurl_name}, DNS answers kept for the run"
        aiohttp_name = (f"aiohttp (1 session, limit {CONCURRENCY}, "
                        f"semaphore {CONCURRENCY})")
        for hosts in HOST_COUNTS:
            urls = host_urls(nginx, names, hosts)

            def C(label, client, **options):
                check = dc.expect_files(lambda i: root / names[i],
                                        SAMPLE_EVERY)
                return harness.Contender(
                    label, dc.contender(client, urls, check, options,
                                        tmp_root=clients_tmp),
                    N_FILES, "files")

            group = harness.run_group(
                f"{N_FILES:,} files of 20 KiB on {hosts:,} host names "
                f"({N_FILES // hosts:,} each, shuffled), each written to "
                "its own file",
                [C(ungil_name, "ungil", concurrency=CONCURRENCY),
                 C(ungil_dns_name, "ungil", concurrency=CONCURRENCY,
                   dns_cache=None),
                 C(pycurl_name, "pycurl_socket", handles=CONCURRENCY),
                 C(pycurl_dns_name, "pycurl_socket", handles=CONCURRENCY,
                   dns_cache_timeout=-1),
                 C(aiohttp_name, "aiohttp", limit=CONCURRENCY,
                   semaphore=True)],
                baseline=pycurl_name, rounds=ROUNDS)
            groups.append(dc.cpu_summary(group))
    finally:
        if nginx:
            nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    notes = [
        "Each client runs in a child process and writes every body to its "
        "own file in a fresh temporary directory; time and client CPU are "
        "measured inside the child around the download call only. Client "
        "CPU = user + system time of every thread of the child "
        "(getrusage), nginx excluded.",
        f"Hosts: names hN.localhost, all served by one nginx on 127.0.0.1 "
        f"(worker_processes 1, worker_connections {NGINX_CONNECTIONS:,}); "
        f"each host serves the same number of files, the URLs in a "
        f"shuffled order. libcurl resolves *.localhost itself; aiohttp "
        f"gets a resolver that does the same.",
        "pycurl runs on socket_action and epoll: the select() loop of the "
        "throughput benchmark rests on curl_multi_fdset, which leaves out "
        "sockets numbered past 1,024, and libcurl's idle connections to "
        "hosts that are done push new sockets past that.",
        "aiohttp's tasks pass a semaphore of 100 before the connector: "
        "with its connector limit alone, aiohttp 3.14 releases each "
        "waiter by walking a queue per host (41 s for 10,000 hosts "
        "instead of 6, measured while writing this benchmark).",
        "'DNS answers kept for the run': ungil dns_cache=None, pycurl "
        "DNS_CACHE_TIMEOUT -1. At their defaults (60 s) both libcurls walk "
        "their whole DNS cache after every transfer to expire answers.",
        f"ungil is built against Debian 12's libcurl "
        f"{dc.system_libcurl_version()}; pycurl's wheel bundles its own "
        f"newer libcurl.",
        "Ratio = files/s of the contender / files/s of pycurl on "
        "socket_action at its defaults.",
    ]
    harness.write_results(
        "download_hosts",
        "Downloads from many hosts (20 KiB files, one nginx, *.localhost "
        "names)", groups, [], notes, facts)


if __name__ == "__main__":
    main()
