"""Run runc's own integration suite against berth (or any runc-compatible runtime), offline.

The suite is tests/integration/*.bats of a runc source tree: runc 1.1.5 from Debian's source
package (`runc-suite.sh --fetch DIR`), or a git tree of runc's main branch. Nothing in that
tree is modified: the runner works in a copy of tests/integration under the work directory
(default /tmp/runc-suite/NAME), where

- get-images.sh is replaced by one that prints the paths of two images built offline
  (images.py): BUSYBOX_IMAGE from Debian's busybox-static, DEBIAN_IMAGE from a few of the
  host's Debian binaries (sh, grep, ldconfig and their libraries: enough for hooks.bats);
- the helper binaries beside it are built from the tree (helpers.py): 1.1.5's
  contrib/cmd/{recvtty,sd-helper,seccompagent} with Debian's Go and -dev packages (GOPATH
  mode), main's tests/cmd/* with its vendor/ and the Go its go.mod wants (toolchain.py:
  Debian's golang-1.NN-go from a newer suite when the host's Go is too old).

Each .bats file runs alone as `timeout -k 10 T unshare -m --propagation private bats --tap
FILE`, with the runner as child subreaper (whatever a file leaves running is killed after it).
The TAP output is parsed into per-file counts; failures listed in scripts/runc-suite.skip are
reported as "by design" and do not fail the run (listed tests that pass anyway are reported).
"""
