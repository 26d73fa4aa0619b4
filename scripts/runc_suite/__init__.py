"""Run runc's own integration suite against berth (or any runc-compatible runtime), offline.

The suite is tests/integration/*.bats of a runc source tree (runc 1.1.5 from Debian's source
package: `runc-suite.sh --fetch DIR`). Nothing in that tree is modified: the runner works in a
copy of tests/integration under the work directory (default /tmp/runc-suite/NAME), where

- get-images.sh is replaced by one that prints the paths of two images built offline
  (images.py): BUSYBOX_IMAGE from Debian's busybox-static, DEBIAN_IMAGE from a few of the
  host's Debian binaries (sh, grep, ldconfig and their libraries: enough for hooks.bats);
- contrib/cmd/{recvtty,sd-helper,seccompagent} beside it are built from the tree with
  Debian's Go and Debian's -dev packages (GOPATH mode, no network) (helpers.py).

Each .bats file runs alone as `timeout -k 10 T unshare -m --propagation private bats --tap
FILE`, with the runner as child subreaper (whatever a file leaves running is killed after it).
The TAP output is parsed into per-file counts; failures listed in scripts/runc-suite.skip are
reported as "by design" and do not fail the run (listed tests that pass anyway are reported).
"""
