/* integration/confine.rs: makes each syscall its arguments number (with zero arguments) and
 * prints "NUMBER ERRNO" for each (0 when it succeeded). Built static: it runs in a busybox root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        long nr = strtol(argv[i], NULL, 0);
        errno = 0;
        long r = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
        printf("%ld %d\n", nr, r < 0 ? errno : 0);
    }
    return 0;
}
