// pillion's native addon (N-API, Linux only): the two things Node cannot do by itself for a
// transparent L4 sidecar.
//
//  originalDst(fd)  getsockopt(SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST): where a connection that
//                   iptables REDIRECTed to us was going. Synchronous: it is one syscall.
//  pump(a, b, idleMs) -> id
//                   moves bytes both ways between two connected TCP sockets with splice(2) through a
//                   pipe per direction, on a thread of its own: the bytes never enter JavaScript and
//                   the event loop does not wake per chunk. The addon dup()s both fds, so JavaScript
//                   closes its own copies at once; the pump owns the connection from then on.
//                   Half-close: EOF on one side becomes shutdown(SHUT_WR) on the other once the pipe
//                   is empty. The end is reported once per pump through the function given to init().
//
// Threading: one pump thread per Node environment (main thread or worker), started on first use,
// stopped and joined when the environment goes away. The JS thread only adds connections
// (epoll_ctl is thread-safe) and queues cancels; everything else happens on the pump thread.
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80  // linux/netfilter_ipv6/ip6_tables.h, which does not build from C++
#endif

namespace {

#define CHECK(call)                                                         \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_throw_error(env, "PILLION_NATIVE", "N-API call failed: " #call); \
      return nullptr;                                                       \
    }                                                                       \
  } while (0)

napi_value ThrowErrno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  const char* name = err == ENOENT ? "ENOENT" : err == ENOPROTOOPT ? "ENOPROTOOPT" : err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnoValue;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_throw(env, error);
  return nullptr;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// --- originalDst ---------------------------------------------------------------------------------

napi_value OriginalDst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "originalDst(fd): fd must be a non-negative integer");
    return nullptr;
  }
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return ThrowErrno(env, "getsockname", errno);
  sockaddr_storage dst{};
  len = sizeof dst;
  int rc;
  // An IPv4 connection accepted on a dual-stack IPv6 socket (::ffff:a.b.c.d) was tracked as IPv4.
  bool v6 = local.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
  if (v6) {
    rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len);
  } else {
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
  }
  if (rc != 0) {
    // ENOENT: conntrack has no NAT entry for it; ENOPROTOOPT: conntrack is not even loaded for this
    // family. Either way the connection was not redirected.
    if (errno == ENOENT || errno == ENOPROTOOPT) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return ThrowErrno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  }
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  const char* family = "IPv4";
  if (dst.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&dst);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    family = "IPv6";
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&dst);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  }
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "address", v));
  CHECK(napi_create_int32(env, port, &v));
  CHECK(napi_set_named_property(env, out, "port", v));
  CHECK(napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "family", v));
  return out;
}

// --- the pump ------------------------------------------------------------------------------------

// One direction: from -> pipe -> to.
struct Dir {
  int from = -1, to = -1;
  int pipe[2] = {-1, -1};
  size_t inPipe = 0;   // bytes spliced in and not yet out
  bool eof = false;    // read side saw EOF
  bool shut = false;   // EOF forwarded as shutdown(to, SHUT_WR)
  std::atomic<uint64_t> bytes{0};  // bytes read from `from`; read by bytes() on the JS thread
};

enum Reason { kDone = 0, kIdle = 1, kError = 2, kCancel = 3 };
const char* const kReasonNames[] = {"done", "idle_timeout", "error", "cancel"};

struct Conn {
  uint32_t id = 0;
  int a = -1, b = -1;  // a: downstream, b: upstream (by convention of the caller)
  Dir ab, ba;          // ab: a -> b (downstream rx), ba: b -> a (downstream tx)
  int64_t idleMs = 0;
  int64_t lastActive = 0;
  bool flushed = false;  // a closed while a -> b still had bytes to deliver (Envoy's upstream_flush)
  int err = 0;
  const char* errSide = "";
};

struct Result {
  uint32_t id;
  uint64_t rx, tx;
  int reason;
  int err;
  const char* errSide;
  bool flushed;
};

struct Pump {
  int epfd = -1;
  int wakefd = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mutex mu;                               // guards conns and cancels
  std::unordered_map<uint32_t, Conn*> conns;   // every live connection
  std::vector<uint32_t> cancels;
  napi_threadsafe_function tsfn = nullptr;
  uint32_t nextId = 1;
  uint32_t active = 0;  // JS thread only: pumps not yet reported, for ref/unref of the tsfn
  std::atomic<int64_t> scanEveryMs{1000};
  // Empty pipes for reuse (pump thread only). A direction holds a pipe only while bytes are in it:
  // the kernel charges pipe capacity to the user (fs.pipe-user-pages-soft), so thousands of idle
  // connections must not each keep two pipes (HAProxy pools its pipes for the same reason).
  std::vector<std::array<int, 2>> pipePool;
};

constexpr size_t kPipePoolMax = 64;
constexpr int kPipeSize = 256 * 1024;

int AcquirePipe(Pump* p, Dir& d) {
  if (!p->pipePool.empty()) {
    d.pipe[0] = p->pipePool.back()[0];
    d.pipe[1] = p->pipePool.back()[1];
    p->pipePool.pop_back();
    return 0;
  }
  if (pipe2(d.pipe, O_NONBLOCK | O_CLOEXEC) != 0) return errno;
  // A larger pipe moves more per splice; the default 64 KiB is what we get when the limit refuses.
  fcntl(d.pipe[1], F_SETPIPE_SZ, kPipeSize);
  return 0;
}

/** Gives an empty pipe back to the pool; a pipe with bytes in it is closed (never reused). */
void ReleasePipe(Pump* p, Dir& d) {
  if (d.pipe[0] < 0) return;
  if (d.inPipe == 0 && p->pipePool.size() < kPipePoolMax) {
    p->pipePool.push_back({d.pipe[0], d.pipe[1]});
  } else {
    close(d.pipe[0]);
    close(d.pipe[1]);
  }
  d.pipe[0] = d.pipe[1] = -1;
}

bool MoveDir(Pump* p, Conn* c, Dir& d, bool* moved) {
  for (;;) {
    while (d.inPipe > 0) {
      ssize_t n = splice(d.pipe[0], nullptr, d.to, nullptr, d.inPipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.inPipe -= size_t(n);
        *moved = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;  // wait for `to` to be writable
      c->err = n < 0 ? errno : EPIPE;
      c->errSide = d.to == c->a ? "downstream" : "upstream";
      return false;
    }
    if (d.eof) {
      ReleasePipe(p, d);
      if (!d.shut) {
        shutdown(d.to, SHUT_WR);  // ENOTCONN after a reset shows up as a read error later
        d.shut = true;
      }
      return true;
    }
    if (d.pipe[0] < 0) {
      int err = AcquirePipe(p, d);
      if (err != 0) {
        c->err = err;
        c->errSide = "pipe";
        return false;
      }
    }
    ssize_t n = splice(d.from, nullptr, d.pipe[1], nullptr, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE);
    if (n > 0) {
      d.inPipe += size_t(n);
      d.bytes.fetch_add(uint64_t(n), std::memory_order_relaxed);
      *moved = true;
      continue;
    }
    if (n == 0) {
      d.eof = true;
      // The downstream is done while the upstream has not taken all its bytes yet (still queued in
      // the socket): Envoy's upstream_flush. The RDHUP check in Loop catches bytes still in the pipe.
      int queued = 0;
      if (&d == &c->ab && ioctl(d.to, SIOCOUTQ, &queued) == 0 && queued > 0) c->flushed = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      ReleasePipe(p, d);  // empty here: nothing to keep it for until `from` has more
      return true;        // wait for `from` to be readable
    }
    c->err = errno;
    c->errSide = d.from == c->a ? "downstream" : "upstream";
    return false;
  }
}

void CloseConn(Pump* p, Conn* c, int reason) {
  epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->a, nullptr);
  epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->b, nullptr);
  if (reason == kError || reason == kCancel) {
    // An abort (a reset or a failed write on one side, a cancel) is passed on as a reset, not as a
    // clean FIN that the peer would take for a complete response. An idle timeout closes with FIN,
    // like Envoy's.
    linger lg{1, 0};
    if (reason != kError || strcmp(c->errSide, "upstream") == 0) setsockopt(c->a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (reason != kError || strcmp(c->errSide, "downstream") == 0) setsockopt(c->b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(c->a);
  close(c->b);
  for (Dir* d : {&c->ab, &c->ba}) ReleasePipe(p, *d);
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->conns.erase(c->id);
  }
  auto* r = new Result{c->id, c->ab.bytes.load(), c->ba.bytes.load(), reason, c->err, c->errSide, c->flushed};
  delete c;
  if (napi_call_threadsafe_function(p->tsfn, r, napi_tsfn_blocking) != napi_ok) delete r;
}

void Progress(Pump* p, Conn* c) {
  bool moved = false;
  bool ok = MoveDir(p, c, c->ab, &moved) && MoveDir(p, c, c->ba, &moved);
  if (moved) c->lastActive = NowMs();
  if (!ok) return CloseConn(p, c, kError);
  if (c->ab.shut && c->ba.shut) CloseConn(p, c, kDone);
}

void Loop(Pump* p) {
  epoll_event events[256];
  int64_t lastScan = NowMs();
  while (!p->stopping.load()) {
    int n = epoll_wait(p->epfd, events, 256, int(p->scanEveryMs.load()));
    for (int i = 0; i < n; i++) {
      if (events[i].data.u64 == 0) {
        uint64_t v;
        ssize_t ignored = read(p->wakefd, &v, sizeof v);  // a cancel or a stop; drained below
        (void)ignored;
        continue;
      }
      // Events carry id << 1 | side, not a pointer: the same connection can appear twice in one
      // batch (both sides ready) and be closed by the first.
      Conn* c = nullptr;
      {
        std::lock_guard<std::mutex> lock(p->mu);
        auto it = p->conns.find(uint32_t(events[i].data.u64 >> 1));
        if (it != p->conns.end()) c = it->second;
      }
      if (c == nullptr) continue;
      // The downstream hung up while bytes for the upstream were still in the pipe: Envoy's
      // upstream_flush (the pump keeps delivering them).
      if ((events[i].data.u64 & 1) == 0 && (events[i].events & (EPOLLRDHUP | EPOLLHUP)) != 0 && c->ab.inPipe > 0) c->flushed = true;
      Progress(p, c);
    }
    std::vector<uint32_t> cancels;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      cancels.swap(p->cancels);
    }
    for (uint32_t id : cancels) {
      Conn* c = nullptr;
      {
        std::lock_guard<std::mutex> lock(p->mu);
        auto it = p->conns.find(id);
        if (it != p->conns.end()) c = it->second;
      }
      if (c != nullptr) CloseConn(p, c, kCancel);
    }
    int64_t now = NowMs();
    if (now - lastScan >= p->scanEveryMs.load()) {
      lastScan = now;
      std::vector<Conn*> idle;
      {
        std::lock_guard<std::mutex> lock(p->mu);
        for (auto& kv : p->conns) {
          Conn* c = kv.second;
          if (c->idleMs > 0 && now - c->lastActive >= c->idleMs) idle.push_back(c);
        }
      }
      for (Conn* c : idle) CloseConn(p, c, kIdle);
    }
  }
}

void CallJs(napi_env env, napi_value fn, void* context, void* data) {
  auto* r = static_cast<Result*>(data);
  auto* p = static_cast<Pump*>(context);
  if (env != nullptr && fn != nullptr) {
    napi_value argv[7], undefined;
    napi_create_uint32(env, r->id, &argv[0]);
    napi_create_double(env, double(r->rx), &argv[1]);
    napi_create_double(env, double(r->tx), &argv[2]);
    napi_create_string_utf8(env, kReasonNames[r->reason], NAPI_AUTO_LENGTH, &argv[3]);
    if (r->err != 0) {
      napi_create_string_utf8(env, strerror(r->err), NAPI_AUTO_LENGTH, &argv[4]);
    } else {
      napi_get_null(env, &argv[4]);
    }
    napi_create_string_utf8(env, r->errSide, NAPI_AUTO_LENGTH, &argv[5]);
    napi_get_boolean(env, r->flushed, &argv[6]);
    napi_get_undefined(env, &undefined);
    if (p->active > 0 && --p->active == 0) napi_unref_threadsafe_function(env, p->tsfn);
    napi_call_function(env, undefined, fn, 7, argv, nullptr);
  }
  delete r;
}

void StopPump(napi_env, void* data, void*) {
  auto* p = static_cast<Pump*>(data);
  if (p->thread.joinable()) {
    p->stopping.store(true);
    uint64_t one = 1;
    ssize_t ignored = write(p->wakefd, &one, sizeof one);
    (void)ignored;
    p->thread.join();
  }
  for (auto& kv : p->conns) {
    Conn* c = kv.second;
    close(c->a);
    close(c->b);
    for (Dir* d : {&c->ab, &c->ba}) {
      if (d->pipe[0] >= 0) close(d->pipe[0]);
      if (d->pipe[1] >= 0) close(d->pipe[1]);
    }
    delete c;
  }
  for (auto& pp : p->pipePool) {
    close(pp[0]);
    close(pp[1]);
  }
  if (p->epfd >= 0) close(p->epfd);
  if (p->wakefd >= 0) close(p->wakefd);
  delete p;
}

Pump* GetPump(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<Pump*>(data);
}

// init(onDone): onDone(id, rxBytes, txBytes, reason, error, errorSide, flushed) for every pump.
napi_value Init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (GetPump(env) != nullptr) {
    napi_throw_error(env, "PILLION_NATIVE", "init() called twice");
    return nullptr;
  }
  auto* p = new Pump();
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->epfd < 0 || p->wakefd < 0) {
    int err = errno;
    delete p;
    return ThrowErrno(env, "epoll/eventfd", err);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev);
  napi_value name;
  CHECK(napi_create_string_utf8(env, "pillion-splice-pump", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[0], nullptr, name, 0, 1, nullptr, nullptr, p, CallJs, &p->tsfn));
  CHECK(napi_unref_threadsafe_function(env, p->tsfn));
  CHECK(napi_set_instance_data(env, p, StopPump, nullptr));
  p->thread = std::thread(Loop, p);
  return nullptr;
}

// pump(fdA, fdB, idleMs) -> id
napi_value StartPump(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Pump* p = GetPump(env);
  if (p == nullptr) {
    napi_throw_error(env, "PILLION_NATIVE", "pump() before init()");
    return nullptr;
  }
  int32_t fa = -1, fb = -1;
  double idle = 0;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fa) != napi_ok || napi_get_value_int32(env, argv[1], &fb) != napi_ok ||
      napi_get_value_double(env, argv[2], &idle) != napi_ok || fa < 0 || fb < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "pump(fdA, fdB, idleMs): two fds and a number");
    return nullptr;
  }
  auto* c = new Conn();
  c->a = fcntl(fa, F_DUPFD_CLOEXEC, 0);
  c->b = fcntl(fb, F_DUPFD_CLOEXEC, 0);
  int err = 0;
  if (c->a < 0 || c->b < 0) err = errno;
  if (err != 0) {
    for (int fd : {c->a, c->b}) if (fd >= 0) close(fd);
    delete c;
    return ThrowErrno(env, "pump setup", err);
  }
  for (int fd : {c->a, c->b}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  c->ab.from = c->a;
  c->ab.to = c->b;
  c->ba.from = c->b;
  c->ba.to = c->a;
  c->idleMs = int64_t(idle);
  c->lastActive = NowMs();
  c->id = p->nextId++;
  if (c->idleMs > 0) {
    // Idle timeouts are checked by a scan: a quarter of the shortest timeout, 10 ms to 1 s.
    int64_t every = c->idleMs / 4;
    if (every < 10) every = 10;
    if (every < p->scanEveryMs.load()) p->scanEveryMs.store(every);
  }
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->conns[c->id] = c;
  }
  if (p->active++ == 0) napi_ref_threadsafe_function(env, p->tsfn);
  // Registering the first fd may make the pump thread run Progress at once: that is fine, both
  // directions are set up. Edge-triggered: EPOLL_CTL_ADD reports whatever is already pending
  // (a writable socket, data that arrived before the hand-over), so nothing is missed.
  epoll_event ev{}, evb{};
  ev.events = evb.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = uint64_t(c->id) << 1;       // side a (downstream)
  evb.data.u64 = (uint64_t(c->id) << 1) | 1;  // side b (upstream)
  uint32_t id = c->id;
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, c->a, &ev) != 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, c->b, &evb) != 0) {
    // Hand it to the pump thread as a cancel so that it is closed and reported like any other end.
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->cancels.push_back(id);
    }
    uint64_t one = 1;
    ssize_t ignored = write(p->wakefd, &one, sizeof one);
    (void)ignored;
  }
  napi_value out;
  CHECK(napi_create_uint32(env, id, &out));
  return out;
}

// cancel(id): close both sides with a reset; reported through onDone with reason "cancel".
napi_value Cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Pump* p = GetPump(env);
  uint32_t id = 0;
  if (p == nullptr || argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return nullptr;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->cancels.push_back(id);
  }
  uint64_t one = 1;
  ssize_t ignored = write(p->wakefd, &one, sizeof one);
  (void)ignored;
  return nullptr;
}

// bytes(ids: Uint32Array, out: Float64Array): out[2i], out[2i+1] = rx, tx moved so far by pump ids[i]
// (-1 when it has ended). For live byte stats while connections run; one lock for the whole batch.
napi_value Bytes(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Pump* p = GetPump(env);
  napi_typedarray_type t1, t2;
  size_t n1 = 0, n2 = 0;
  void* d1 = nullptr;
  void* d2 = nullptr;
  if (argc < 2 || napi_get_typedarray_info(env, argv[0], &t1, &n1, &d1, nullptr, nullptr) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &t2, &n2, &d2, nullptr, nullptr) != napi_ok || t1 != napi_uint32_array ||
      t2 != napi_float64_array || n2 < 2 * n1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "bytes(ids: Uint32Array, out: Float64Array of twice the length)");
    return nullptr;
  }
  auto* ids = static_cast<uint32_t*>(d1);
  auto* out = static_cast<double*>(d2);
  if (p == nullptr) {
    for (size_t i = 0; i < 2 * n1; i++) out[i] = -1;
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(p->mu);  // CloseConn erases under this lock before it deletes
  for (size_t i = 0; i < n1; i++) {
    auto it = p->conns.find(ids[i]);
    out[2 * i] = it == p->conns.end() ? -1 : double(it->second->ab.bytes.load(std::memory_order_relaxed));
    out[2 * i + 1] = it == p->conns.end() ? -1 : double(it->second->ba.bytes.load(std::memory_order_relaxed));
  }
  return nullptr;
}

napi_value RegisterModule(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"originalDst", nullptr, OriginalDst, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pump", nullptr, StartPump, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"cancel", nullptr, Cancel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bytes", nullptr, Bytes, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, RegisterModule)
