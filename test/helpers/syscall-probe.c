/*
 * Asks the kernel for what a hostile RUN line would want and prints what it answered, one
 * `name=result` line each. Compiled statically by the sandbox tests, so it runs in any root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void report(const char *name, long result) {
  printf("%s=%s\n", name, result < 0 ? strerror(errno) : "allowed");
}

int main(int argc, char **argv) {
  /* KEYCTL_GET_KEYRING_ID of KEY_SPEC_USER_KEYRING: the runner's root keyring */
  report("keyctl", syscall(SYS_keyctl, 0, -4, 0));
  report("add_key", syscall(SYS_add_key, "user", "bsp-probe", "x", 1, -4));
  report("unshare-user", unshare(CLONE_NEWUSER));
  report("unshare-net", unshare(CLONE_NEWNET));
  report("unshare-cgroup", unshare(CLONE_NEWCGROUP));
  report("clone3", syscall(SYS_clone3, NULL, 0));
  report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
  report("setns", syscall(SYS_setns, 0, 0));
  report("bpf", syscall(SYS_bpf, 0, NULL, 0));
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  if (argc > 1) {
    /* an abstract unix socket the runner listens on */
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    size_t length = strlen(argv[1]);
    memcpy(address.sun_path + 1, argv[1], length);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("abstract-socket",
           connect(fd, (struct sockaddr *)&address, offsetof(struct sockaddr_un, sun_path) + 1 + length));
  }
  return 0;
}
