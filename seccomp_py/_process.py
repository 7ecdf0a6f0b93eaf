"""A started child process with the interface of :class:`subprocess.Popen`.

:class:`ChildProcess` is what :func:`seccomp_py.spawn` returns (as its
subclass :class:`~seccomp_py.spawn.SeccompPopen`): ``wait``, ``poll``,
``communicate``, ``pid``, ``returncode``, ``args``, ``stdin``/``stdout``/
``stderr`` (binary or text), ``send_signal``/``terminate``/``kill`` and the
context manager, with subprocess's semantics, built on public APIs only
(os.waitpid, os.pipe, io, selectors) rather than on Popen's private
internals, which change between CPython releases.  :class:`Stdio` opens the
child's stdin/stdout/stderr from subprocess's arguments (PIPE, DEVNULL,
STDOUT, an fd, a file object).  See docs/spawn.md.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import io
import os
import threading
import time
import types

TYPE_CHECKING = False  # not typing's (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from typing import IO, Any, TypeVar

    _Self = TypeVar("_Self", bound="ChildProcess")

# subprocess.PIPE, STDOUT, DEVNULL (their documented values; subprocess is not
# imported here: start-up time)
PIPE = -1
STDOUT = -2
DEVNULL = -3

_READ_SIZE = 32768

# Children of ChildProcess objects collected while still running: reaped at the
# next start, as subprocess does for Popen, so that they do not stay zombies.
_unreaped: list[int] = []


def reap_collected() -> None:
    """waitpid(WNOHANG) the children whose ChildProcess was collected unwaited."""
    for pid in list(_unreaped):
        try:
            done = os.waitpid(pid, os.WNOHANG)[0]
        except ChildProcessError:
            done = pid
        if done:
            with contextlib.suppress(ValueError):  # another thread reaped it
                _unreaped.remove(pid)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class Stdio:
    """The child's stdin/stdout/stderr and the parent's ends of its pipes.

    Built from subprocess's arguments (None, PIPE, DEVNULL, STDOUT for
    stderr, an fd, an object with ``fileno()``); -1 means "not set".  Raises
    OSError (os.pipe, opening os.devnull), closing what it opened.
    """

    __slots__ = ("c2pread", "c2pwrite", "devnull", "errread", "errwrite", "p2cread",
                 "p2cwrite")

    def __init__(self, stdin: Any, stdout: Any, stderr: Any, pipesize: int = -1) -> None:
        self.p2cread = self.p2cwrite = self.c2pread = self.c2pwrite = -1
        self.errread = self.errwrite = self.devnull = -1
        if stdin is None and stdout is None and stderr is None:
            return
        try:
            if stdin is None:
                pass
            elif stdin == PIPE:
                self.p2cread, self.p2cwrite = self._pipe(pipesize)
            elif stdin == DEVNULL:
                self.p2cread = self._devnull()
            else:
                self.p2cread = stdin if isinstance(stdin, int) else stdin.fileno()
            if stdout is None:
                pass
            elif stdout == PIPE:
                self.c2pread, self.c2pwrite = self._pipe(pipesize)
            elif stdout == DEVNULL:
                self.c2pwrite = self._devnull()
            else:
                self.c2pwrite = stdout if isinstance(stdout, int) else stdout.fileno()
            if stderr is None:
                pass
            elif stderr == PIPE:
                self.errread, self.errwrite = self._pipe(pipesize)
            elif stderr == STDOUT:
                if self.c2pwrite != -1:
                    self.errwrite = self.c2pwrite
                else:  # the child's stdout is the parent's: so is its stderr
                    import sys

                    self.errwrite = sys.__stdout__.fileno()  # type: ignore[union-attr]
            elif stderr == DEVNULL:
                self.errwrite = self._devnull()
            else:
                self.errwrite = stderr if isinstance(stderr, int) else stderr.fileno()
        except BaseException:
            self.close_all()
            raise

    def _pipe(self, pipesize: int) -> tuple[int, int]:
        read, write = os.pipe()  # O_CLOEXEC (PEP 446)
        if pipesize > 0:
            import fcntl

            try:
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, pipesize)
            except BaseException:
                os.close(read)
                os.close(write)
                raise
        return read, write

    def _devnull(self) -> int:
        if self.devnull == -1:
            self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        return self.devnull

    @property
    def child_fds(self) -> tuple[int, int, int]:
        """What the child gets as fds 0, 1, 2 (-1: the parent's own)."""
        return self.p2cread, self.c2pwrite, self.errwrite

    def close_child_ends(self) -> None:
        """Close the child's ends of the pipes and /dev/null (after the start)."""
        if self.p2cwrite != -1 and self.p2cread != -1:
            _close(self.p2cread)
        if self.c2pread != -1 and self.c2pwrite != -1:
            _close(self.c2pwrite)
        if self.errread != -1 and self.errwrite != -1:
            _close(self.errwrite)
        if self.devnull != -1:
            _close(self.devnull)
        self.p2cread = self.c2pwrite = self.errwrite = self.devnull = -1

    def close_all(self) -> None:
        """Close every fd this object opened (the start failed)."""
        self.close_child_ends()
        for fd in (self.p2cwrite, self.c2pread, self.errread):
            if fd != -1:
                _close(fd)
        self.p2cwrite = self.c2pread = self.errread = -1


def _timeout_expired(args: Any, timeout: float, output: Any = None, stderr: Any = None
                     ) -> Exception:
    import subprocess

    return subprocess.TimeoutExpired(args, timeout, output=output, stderr=stderr)


def _translate_newlines(data: bytes, encoding: str, errors: str) -> str:
    return data.decode(encoding, errors).replace("\r\n", "\n").replace("\r", "\n")


class ChildProcess:
    """A child process, used as a :class:`subprocess.Popen` is (see the module).

    Subclasses start the child and then call :meth:`_started`.  Raises what
    Popen raises: ``subprocess.TimeoutExpired`` from ``wait``/``communicate``
    with a timeout, ValueError for input after communication started.
    """

    args: Any = None
    pid: int = -1
    returncode: int | None = None
    stdin: IO[Any] | None = None
    stdout: IO[Any] | None = None
    stderr: IO[Any] | None = None
    text_mode: bool = False
    encoding: str | None = None
    errors: str | None = None
    _running = False  # a child was started and is not known to be reaped
    _sigint_wait_secs = 0.25
    _communication_started = False
    _input: bytes | None = None
    _input_offset = 0
    _outputs: dict[Any, list[bytes]] | None = None
    _wait_lock: threading.Lock | None = None

    # ChildProcess[bytes] / [str] in annotations, as Popen[bytes] (PEP 585)
    __class_getitem__: Any = classmethod(types.GenericAlias)

    @property
    def universal_newlines(self) -> bool:
        """The same as ``text_mode`` (subprocess's old name)."""
        return self.text_mode

    def _started(self, pid: int, stdio: Stdio, bufsize: int) -> None:
        """Record the started child and wrap the parent's ends of its pipes."""
        self.pid = pid
        self._running = True
        self._wait_lock = threading.Lock()
        stdio.close_child_ends()
        if stdio.p2cwrite == -1 and stdio.c2pread == -1 and stdio.errread == -1:
            return
        text = self.text_mode
        if stdio.p2cwrite != -1:
            line_buffering = text and bufsize == 1
            self.stdin = open(stdio.p2cwrite, "wb",  # noqa: SIM115
                              -1 if line_buffering else bufsize)
            if text:
                self.stdin = io.TextIOWrapper(self.stdin,
                                              write_through=True,
                                              line_buffering=line_buffering,
                                              encoding=self.encoding, errors=self.errors)
        for name, fd in (("stdout", stdio.c2pread), ("stderr", stdio.errread)):
            if fd != -1:
                stream: IO[Any] = open(fd, "rb",  # noqa: SIM115
                                       -1 if text and bufsize == 1 else bufsize)
                if text:
                    stream = io.TextIOWrapper(stream,
                                              encoding=self.encoding, errors=self.errors)
                setattr(self, name, stream)

    # -- waiting ---------------------------------------------------------------------

    def _handle_exitstatus(self, status: int) -> None:
        """Set ``returncode`` from a waitpid(2) status."""
        if os.WIFSTOPPED(status):
            self.returncode = -os.WSTOPSIG(status)
        else:
            self.returncode = os.waitstatus_to_exitcode(status)
        self._running = False

    def _try_wait(self, flags: int) -> tuple[int, int]:
        try:
            return os.waitpid(self.pid, flags)
        except ChildProcessError:
            # SIGCHLD ignored, or reaped elsewhere: the child is gone, its status
            # unknown (subprocess reports 0 too)
            return self.pid, 0

    def poll(self) -> int | None:
        """The exit status if the child has exited, else None (never blocks)."""
        lock = self._wait_lock
        if self.returncode is None and lock is not None and lock.acquire(False):
            try:
                if self.returncode is None:
                    pid, status = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(status)
            finally:
                lock.release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit and return ``returncode``.

        Raises subprocess.TimeoutExpired when ``timeout`` seconds pass first.
        """
        if self.returncode is not None:
            return self.returncode
        endtime = None if timeout is None else time.monotonic() + timeout
        try:
            return self._wait(timeout, endtime)
        except KeyboardInterrupt:
            # like subprocess: give a child that got the same SIGINT a moment to exit
            grace = self._sigint_wait_secs
            if endtime is not None:
                grace = min(grace, endtime - time.monotonic())
            self._sigint_wait_secs = 0
            if grace > 0:
                with contextlib.suppress(Exception):
                    self._wait(grace, time.monotonic() + grace)
            raise

    def _wait(self, timeout: float | None, endtime: float | None) -> int:
        lock = self._wait_lock
        if lock is None:
            raise ValueError("the child was not started")
        if endtime is None:
            while self.returncode is None:
                with lock:
                    if self.returncode is not None:
                        break
                    pid, status = self._try_wait(0)
                    if pid == self.pid:
                        self._handle_exitstatus(status)
            return self.returncode
        delay = 0.0005
        while True:
            if lock.acquire(False):
                try:
                    if self.returncode is not None:
                        break
                    pid, status = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(status)
                        break
                finally:
                    lock.release()
            remaining = endtime - time.monotonic()
            if remaining <= 0:
                raise _timeout_expired(self.args, timeout or 0.0)
            delay = min(delay * 2, remaining, 0.05)
            time.sleep(delay)
        assert self.returncode is not None
        return self.returncode

    # -- signals ---------------------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child, unless it was already reaped (kill(2))."""
        self.poll()
        if self.returncode is not None:
            return  # its pid may belong to another process by now
        with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        """Send SIGTERM."""
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL."""
        import signal

        self.send_signal(signal.SIGKILL)

    # -- communicate -----------------------------------------------------------------

    def communicate(self, input: Any = None, timeout: float | None = None
                    ) -> tuple[Any, Any]:
        """Send ``input`` to stdin, read stdout and stderr to the end, wait.

        Returns ``(stdout_data, stderr_data)`` (None for a stream that is not a
        pipe; str in text mode).  Raises subprocess.TimeoutExpired (call again
        to go on), ValueError for input after communication started.
        """
        if self._communication_started and input:
            raise ValueError("Cannot send input after starting communication")
        streams = (self.stdin, self.stdout, self.stderr)
        if timeout is None and not self._communication_started and streams.count(None) >= 2:
            out = err = None
            if self.stdin is not None:
                self._stdin_write(input)
            elif self.stdout is not None:
                out = self.stdout.read()
                self.stdout.close()
            elif self.stderr is not None:
                err = self.stderr.read()
                self.stderr.close()
            self.wait()
            return out, err
        endtime = None if timeout is None else time.monotonic() + timeout
        try:
            out, err = self._communicate(input, endtime, timeout)
        finally:
            self._communication_started = True
        self.wait(None if endtime is None else endtime - time.monotonic())
        return out, err

    def _stdin_write(self, input: Any) -> None:
        assert self.stdin is not None
        if input:
            try:
                self.stdin.write(input)
            except BrokenPipeError:
                pass  # the child is not reading
            except OSError as exc:
                if exc.errno != _errno.EINVAL:  # the child exited meanwhile
                    raise
        try:
            self.stdin.close()
        except BrokenPipeError:
            pass
        except OSError as exc:
            if exc.errno != _errno.EINVAL:
                raise

    def _communicate(self, input: Any, endtime: float | None, timeout: float | None
                     ) -> tuple[Any, Any]:
        import select
        import selectors

        stdin = self.stdin
        if stdin is not None and not self._communication_started:
            with contextlib.suppress(BrokenPipeError):
                stdin.flush()
            if not input:
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()
        if self._outputs is None:
            self._outputs = {s: [] for s in (self.stdout, self.stderr) if s is not None}
        outputs = self._outputs
        if stdin is not None and self._input is None:
            self._input_offset = 0
            self._input = input
            if input is not None and self.text_mode:
                self._input = input.encode(stdin.encoding, stdin.errors)  # type: ignore[attr-defined]
        data = memoryview(self._input) if self._input else None
        selector_cls = getattr(selectors, "PollSelector", selectors.SelectSelector)
        with selector_cls() as selector:
            if stdin is not None and input and not stdin.closed:
                selector.register(stdin, selectors.EVENT_WRITE)
            for stream in outputs:
                if not stream.closed:
                    selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                wait_for = None
                if endtime is not None:
                    wait_for = endtime - time.monotonic()
                    if wait_for <= 0:
                        raise self._expired(timeout)
                ready = selector.select(wait_for)
                if endtime is not None and time.monotonic() > endtime:
                    raise self._expired(timeout)
                for key, _events in ready:
                    ready_stream: Any = key.fileobj
                    if ready_stream is stdin:
                        assert data is not None and stdin is not None
                        chunk = data[self._input_offset:self._input_offset + select.PIPE_BUF]
                        try:
                            self._input_offset += os.write(key.fd, chunk)
                        except BrokenPipeError:
                            selector.unregister(stdin)
                            stdin.close()
                        else:
                            if self._input_offset >= len(data):
                                selector.unregister(stdin)
                                stdin.close()
                    else:
                        chunk_in = os.read(key.fd, _READ_SIZE)
                        if not chunk_in:
                            selector.unregister(ready_stream)
                            ready_stream.close()
                        outputs[ready_stream].append(chunk_in)
        self.wait(None if endtime is None else endtime - time.monotonic())
        result: list[Any] = []
        for stream in (self.stdout, self.stderr):
            data_out: Any = None
            if stream is not None:
                data_out = b"".join(outputs[stream])
                if self.text_mode:
                    wrapper: Any = stream
                    data_out = _translate_newlines(data_out, wrapper.encoding, wrapper.errors)
            result.append(data_out)
        return result[0], result[1]

    def _expired(self, timeout: float | None) -> Exception:
        outputs = self._outputs or {}
        out = b"".join(outputs[self.stdout]) if self.stdout in outputs else None
        err = b"".join(outputs[self.stderr]) if self.stderr in outputs else None
        return _timeout_expired(self.args, timeout or 0.0, out, err)

    # -- the context manager and collection --------------------------------------------

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, exc_type: Any, value: Any, traceback: Any) -> None:
        if self.stdout is not None:
            self.stdout.close()
        if self.stderr is not None:
            self.stderr.close()
        try:
            if self.stdin is not None:
                self.stdin.close()
        finally:
            if exc_type is KeyboardInterrupt:
                # the child got the same SIGINT: give it a moment, do not block
                if self._sigint_wait_secs > 0 and self._wait_lock is not None:
                    with contextlib.suppress(Exception):
                        self._wait(self._sigint_wait_secs,
                                   time.monotonic() + self._sigint_wait_secs)
                self._sigint_wait_secs = 0
            elif self._wait_lock is not None:
                self.wait()

    def __del__(self) -> None:
        if self._running and self.returncode is None:
            # like subprocess: reap it at a later start, and warn
            _unreaped.append(self.pid)
            try:
                import warnings
            except ImportError:  # interpreter shutdown
                return
            warnings.warn(f"subprocess {self.pid} is still running", ResourceWarning,
                          stacklevel=2, source=self)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__}: returncode: {self.returncode} "
                f"args: {self.args!r:.80}>")
