/* An NSS module as a container image could ship one (libnss_berthtest.so.2, named by the
 * image's /etc/nsswitch.conf): loading it runs its constructor, which leaves a file in
 * /marks. The test that uses it (integration/security.rs) asserts that no file appears: no
 * berth process ever loads a library from a container's filesystem. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void loaded(void)
{
	char path[64];
	snprintf(path, sizeof path, "/marks/loaded-by-%d", (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}
