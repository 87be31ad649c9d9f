"""pytest plugin: nbval for notebooks on the tslab (TypeScript) kernel.

Load it next to nbval (``-p nbval_tslab --nbval-lax``, with this folder on
PYTHONPATH; ``npm test`` does so). nbval 0.11 assumes an IPython-like
kernel; tslab 1.0.22 differs in ways that make plain nbval pass broken
notebooks:

- tslab never sends an iopub ``error`` message. A failing cell (exception,
  TypeScript diagnostic, failed import, rejected top-level await) only
  writes text to the ``stderr`` stream and answers ``status: "error"`` on
  the shell channel, which nbval ignores.
- Its ``kernel_info_reply`` has no ``status`` field, so nbval's
  ``await_reply`` raises ``KeyError: 'status'`` before the first cell.
- For 200 ms after a failure it answers every ``execute_request`` with
  ``status: "abort"`` without running it (nbval looks for "aborted").
- Unhandled promise rejections and late ``console.error`` calls arrive on
  iopub after the cell went idle, parented to that cell.

Here a code cell FAILS when its reply status is ``error`` or ``abort``, when
it (or an earlier cell, late) writes to stderr, when it times out or the
kernel dies, and, if tagged ``nbval-check-output``, when its output differs
from the stored one after sanitising (``sanitize.cfg`` beside this file is
the default ``--nbval-sanitize-with``). A failure that stopped the cell's
code (error, abort, timeout, dead kernel) skips the rest of the notebook,
whose cells depend on it.

Cell tags (TypeScript has no ``#`` comments, so nbval's comment markers do
not apply): ``nbval-check-output``, ``nbval-ignore-output``, ``nbval-skip``,
``raises-exception`` (the cell must fail; tslab then aborts the next
request, so that next cell fails too), and ``nbval-check-images``: image
outputs (``image/*``) are compared only for their presence and type unless
a checked cell carries this tag, then byte for byte.
"""

import copy
import os
import re
import tempfile
import time
from pathlib import Path
from queue import Empty

import pytest
from nbformat import NotebookNode

try:  # pytest's own base class for custom failure reports
    from _pytest._code.code import ReprFileLocation, TerminalRepr
except ImportError:  # pragma: no cover - only if pytest moves them
    TerminalRepr = object
    ReprFileLocation = None

from nbval.kernel import (NbvalKernelspecManager, RunningKernel,
                          start_new_kernel)
from nbval.plugin import (IPyNbCell, IPyNbFile, bcolors, coalesce_streams,
                          nocolors)

HERE = Path(__file__).resolve().parent
DEFAULT_SANITIZE = HERE / 'sanitize.cfg'
KERNEL_NAME = 'tslab'

#: Tags this plugin understands; any other ``nbval-*`` tag is a typo.
KNOWN_TAGS = {'nbval-check-output', 'nbval-ignore-output', 'nbval-skip',
              'nbval-raises-exception', 'raises-exception',
              'nbval-check-images'}
#: After a cell goes idle, wait this long for its late iopub messages
#: (an unhandled rejection arrives ~2 ms after idle); longer after the last
#: cell, where no later cell would catch them.
GRACE_S = 0.05
LAST_GRACE_S = 0.3
#: How long a cell may take to go idle once its reply came, and how long an
#: interrupted cell gets to answer before the kernel is stopped.
IDLE_TIMEOUT_S = 10.0
INTERRUPT_GRACE_S = 10.0

_FAILURES = pytest.StashKey[list]()


# --------------------------------------------------------------------------
# The kernel


class TslabKernel(RunningKernel):
    """nbval's kernel wrapper, keeping the kernel's own output in a log and
    tolerating replies without ``status`` (tslab's kernel_info_reply)."""

    def __init__(self, kernel_name, cwd=None, startup_timeout=60):
        # The process's own stdout/stderr (not the cells': tslab sends
        # those over iopub) hold crash messages and native TF logs.
        self.log = tempfile.NamedTemporaryFile(
            'w+', prefix='tslab-kernel-', suffix='.log', delete=False)
        try:
            self.km, self.kc = start_new_kernel(
                startup_timeout=startup_timeout, kernel_name=kernel_name,
                stdout=self.log, stderr=self.log, cwd=cwd)
            self._ensure_iopub_up()
        except BaseException:
            self.close_log()
            raise

    def await_reply(self, msg_id, timeout=None):
        while True:
            msg = self.get_message(stream='shell', timeout=timeout)
            if msg['parent_header'].get('msg_id') == msg_id:
                return msg

    def exit_code(self):
        process = getattr(getattr(self.km, 'provisioner', None), 'process',
                          None)
        return process.poll() if process is not None else None

    def log_tail(self, lines=20):
        try:
            self.log.flush()
            with open(self.log.name, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    def close_log(self):
        try:
            self.log.close()
            os.unlink(self.log.name)
        except OSError:
            pass

    def shutdown(self):
        """Stops the kernel if it still runs and frees its resources."""
        if hasattr(self, 'km'):
            try:
                self.kc.stop_channels()
                self.km.shutdown_kernel(now=True)
            except Exception:  # a dead kernel may fail its shutdown
                pass
            del self.km
        self.close_log()


class CellRun:
    """What one execute_request produced."""

    def __init__(self):
        self.status = None        # reply status: ok | error | abort | None
        self.outputs = []         # nbformat outputs, in arrival order
        self.late_stderr = []     # (code cell index, text) of earlier cells
        self.timed_out = False
        self.unresponsive = False  # no answer even after the interrupt
        self.died = False
        self.msg_id = None

    @property
    def stderr(self):
        return ''.join(o.text for o in self.outputs
                       if o.output_type == 'stream' and o.name == 'stderr')

    @property
    def error_outputs(self):
        return [o for o in self.outputs if o.output_type == 'error']


def execute(kernel, source, sent, timeout, grace):
    """Runs one cell: reads iopub while waiting for the shell reply (so that
    a chatty cell cannot overflow the socket), watches the kernel process,
    interrupts the cell at ``timeout``, and keeps reading iopub for
    ``grace`` seconds after idle. ``sent`` maps the msg_ids of this
    notebook's earlier cells to their index."""
    run = CellRun()
    kc = kernel.kc
    msg_id = kernel.execute_cell_input(source, allow_stdin=False)
    started = time.monotonic()
    deadline = started + timeout
    displays = {}             # display_id -> outputs it updates
    clear_pending = False
    reply_at = None
    idle = False
    last_alive_check = started

    def handle(msg):
        nonlocal idle, clear_pending
        parent = msg['parent_header'].get('msg_id')
        kind = msg['msg_type']
        content = msg['content']
        if parent != msg_id:
            if (kind == 'stream' and content.get('name') == 'stderr'
                    and parent in sent):
                run.late_stderr.append((sent[parent], content['text']))
            return
        if kind == 'status':
            idle = idle or content['execution_state'] == 'idle'
            return
        if kind == 'clear_output':
            if content.get('wait'):
                clear_pending = True
            else:
                run.outputs.clear()
            return
        if kind not in ('stream', 'display_data', 'execute_result',
                        'update_display_data', 'error'):
            return  # execute_input, comm_*, ...
        if clear_pending:
            run.outputs.clear()
            clear_pending = False
        display_id = content.get('transient', {}).get('display_id')
        if kind == 'update_display_data':
            for out in displays.get(display_id, []):
                out['data'] = content['data']
                out['metadata'] = content.get('metadata', {})
            return
        out = NotebookNode(output_type=kind)
        if kind == 'stream':
            out.name, out.text = content['name'], content['text']
        elif kind == 'error':
            out.ename, out.evalue = content['ename'], content['evalue']
            out.traceback = content.get('traceback', [])
        else:
            out.data = content['data']
            out.metadata = content.get('metadata', {})
            if kind == 'execute_result':
                out.execution_count = content.get('execution_count')
        if display_id is not None:
            displays.setdefault(display_id, []).append(out)
        run.outputs.append(out)

    while reply_at is None or not idle:
        now = time.monotonic()
        if reply_at is not None and now - reply_at > IDLE_TIMEOUT_S:
            break  # replied but never went idle: judge what we have
        if now > deadline:
            if run.timed_out:
                run.unresponsive = True
                break
            run.timed_out = True
            kernel.interrupt()
            deadline = now + INTERRUPT_GRACE_S
        try:
            handle(kc.get_iopub_msg(timeout=0.1))
        except Empty:
            pass
        while reply_at is None:
            try:
                msg = kc.get_shell_msg(timeout=0)
            except Empty:
                break
            if msg['parent_header'].get('msg_id') == msg_id:
                run.status = msg['content'].get('status')
                reply_at = time.monotonic()
        if reply_at is None and now - last_alive_check > 0.5:
            last_alive_check = now
            if not kernel.is_alive():
                run.died = True
                break
    end = time.monotonic() + grace
    while not run.died and time.monotonic() < end:
        try:
            handle(kc.get_iopub_msg(timeout=max(0.0, end - time.monotonic())))
        except Empty:
            break
    run.msg_id = msg_id
    return run


# --------------------------------------------------------------------------
# Explaining a failure in one line


_DIAGNOSTIC = re.compile(r'^(\d+):(\d+) - (.*)$', re.MULTILINE)
# Node prints a synchronously thrown error after the line that threw:
# "evalmachine.<anonymous>:4\n    throw new Error(...);\n    ^\n\n".
_THROW_SITE = re.compile(r'\A\s*\S+:\d+\n[^\n]*\n\s*\^+\s*\n\s*\n')
# Stack frames of tslab and node:vm around every cell: noise in a report.
_KERNEL_FRAME = re.compile(
    r'^\s+at .*(?:node_modules/tslab/|\(node:vm:|sigintHandlersWrap).*\n?',
    re.MULTILINE)
_IMPORT_PROBLEMS = ('Cannot find module', 'has no exported member',
                    'Could not find a declaration file')


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ''


def explain_error(stderr, source):
    """One line saying why tslab answered ``error``, from its stderr text:
    TypeScript diagnostics (``L:C - message``), an exception thrown by the
    cell (Node prefixes it with the failing source line), a rejected
    top-level await, or an interrupt."""
    text = stderr.strip()
    diagnostics = _DIAGNOSTIC.findall(text)
    if diagnostics:
        line, col, message = diagnostics[0]
        kind = ('import failed' if any(p in message for p in _IMPORT_PROBLEMS)
                else 'TypeScript error')
        more = len(diagnostics) - 1
        return (f'{kind} at line {line}:{col}: {message}' +
                (f' (+{more} more)' if more else ''))
    if ('Interrupted asynchronously' in text
            or 'interrupted by `SIGINT`' in text):
        return 'interrupted'
    thrown_here = bool(_THROW_SITE.match(text))
    headline = first_line(_THROW_SITE.sub('', text, count=1)) or \
        '(no message)'
    if 'Cannot find module' in headline:
        return f'import failed at run time: {headline}'
    if not thrown_here and re.search(r'\bawait\b', source):
        return f'top-level await rejected: {headline}'
    return f'threw {headline}'


# --------------------------------------------------------------------------
# Reports


class CellFailureRepr(TerminalRepr):
    """A failure report whose first line (``reprcrash``) is the reason, so
    pytest's ``FAILED ... - reason`` summary line says why."""

    def __init__(self, reason, text, path):
        self.text = text
        if ReprFileLocation is not None:
            self.reprcrash = ReprFileLocation(path, 0, reason)

    def toterminal(self, tw):
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self):
        return self.text


class CellFailure(Exception):
    def __init__(self, problems, details):
        super().__init__(problems[0])
        self.problems = problems
        self.details = details


def indent(text, prefix='    ', max_lines=60):
    lines = text.rstrip('\n').splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f'... ({len(lines) - max_lines} more '
                                     'lines)']
    return '\n'.join(prefix + line for line in lines)


# --------------------------------------------------------------------------
# Collection


class TslabNotebook(IPyNbFile):
    """A notebook run in one tslab kernel, its working directory the
    notebook's folder."""

    kernel = None

    def collect(self):
        cells = list(super().collect())  # reads self.nb, parses tags
        spec_name = self.nb.metadata.get('kernelspec', {}).get('name')
        name = self.config.option.nbval_kernel_name or KERNEL_NAME
        if spec_name != name:
            raise self.CollectError(
                f'{self.path}: kernelspec name is {spec_name!r}, expected '
                f'{name!r} (metadata.kernelspec.name; this plugin drives '
                'the tslab TypeScript kernel)')
        # The last cell that runs waits longer for late stderr.
        runs = [item for item in cells if not item.options['skip']]
        last = runs[-1] if runs else None
        code_cells = [c for c in self.nb.cells if c.cell_type == 'code']
        positions = [i for i, c in enumerate(self.nb.cells)
                     if c.cell_type == 'code']
        for item, cell, position in zip(cells, code_cells, positions):
            tags = cell.metadata.get('tags', []) or []
            unknown = [t for t in tags if t.startswith('nbval-')
                       and t not in KNOWN_TAGS]
            if unknown:
                raise self.CollectError(
                    f'{self.path}: code cell {item.cell_num} has unknown tag'
                    f' {unknown[0]!r}; known tags: '
                    f'{", ".join(sorted(KNOWN_TAGS))}')
            options = item.options
            options['check_images'] = 'nbval-check-images' in tags
            yield TslabCell.from_parent(
                self, name=item.name, cell_num=item.cell_num, cell=cell,
                options=options, position=position,
                is_last=item is last)

    def setup(self):
        self.stop_reason = None       # set when later cells cannot run
        self.expected_error_in = None  # cell tagged raises-exception
        self.sent = {}                 # msg_id -> code cell index
        name = self.config.option.nbval_kernel_name or KERNEL_NAME
        try:
            self.kernel = TslabKernel(
                name, cwd=str(self.path.parent),
                startup_timeout=self.config.option
                .nbval_kernel_startup_timeout)
        except Exception as e:
            raise RuntimeError(f'{self.path}: could not start the {name!r} '
                               f'kernel: {e}') from e
        self.setup_sanitize_files()

    def teardown(self):
        if self.kernel is not None:
            self.kernel.shutdown()
            self.kernel = None


class TslabCell(IPyNbCell):
    def __init__(self, name, parent, cell_num, cell, options, position,
                 is_last):
        super().__init__(name, parent, cell_num, cell, options)
        self.position = position  # index among all cells, markdown included
        self.is_last = is_last
        self.colors = (bcolors if self.config.get_terminal_writer().hasmarkup
                       else nocolors)

    def setup(self):
        if self.parent.stop_reason:
            pytest.skip(self.parent.stop_reason)

    @property
    def where(self):
        return f'code cell {self.cell_num} (cell {self.position} counting ' \
               'markdown)'

    def runtest(self):
        if self.options['skip']:
            pytest.skip('tagged nbval-skip')
        nb = self.parent
        kernel = nb.kernel
        timeout = self.config.option.nbval_cell_timeout
        run = execute(kernel, self.cell.source, nb.sent, timeout,
                      LAST_GRACE_S if self.is_last else GRACE_S)
        nb.sent[run.msg_id] = self.cell_num
        self.test_outputs = run.outputs = coalesce_streams(run.outputs)
        problems, details = self.judge(run, timeout)
        if problems:
            raise CellFailure(problems, details)

    def stop(self, why):
        self.parent.stop_reason = f'not run: {why}'

    def judge(self, run, timeout):
        """The list of reasons this cell fails (empty if it passes) and the
        details to show with them."""
        nb = self.parent
        problems, details = [], []
        stderr = run.stderr
        expect_error = self.options['check_exception']
        if run.died:
            code = nb.kernel.exit_code()
            problems.append('kernel died' + (f' (exit code {code})'
                                             if code is not None else ''))
            details.append('kernel log (tail):\n' +
                           indent(nb.kernel.log_tail() or '(empty)'))
            self.stop(f'the kernel died in code cell {self.cell_num}')
        elif run.timed_out:
            problems.append(
                f'timed out after {timeout:g} s (--nbval-cell-timeout)' +
                ('; the kernel ignored the interrupt and was stopped'
                 if run.unresponsive else '; interrupted'))
            if run.unresponsive:
                nb.kernel.shutdown()
            self.stop(f'code cell {self.cell_num} timed out')
        elif run.status == 'abort':
            after = (f' (code cell {nb.expected_error_in} failed, as tagged)'
                     if nb.expected_error_in is not None else '')
            problems.append(
                'aborted by tslab without running: it drops requests that '
                f'arrive within 200 ms of a failed cell{after}; catch the '
                'error in that cell and print it instead')
            self.stop(f'code cell {self.cell_num} was aborted')
        elif run.status == 'error' or run.error_outputs:
            if expect_error:
                nb.expected_error_in = self.cell_num
            else:
                if run.error_outputs:
                    e = run.error_outputs[0]
                    problems.append(f'threw {e.ename}: {e.evalue}')
                else:
                    problems.append(explain_error(stderr, self.cell.source))
                self.stop(f'code cell {self.cell_num} failed')
        elif run.status != 'ok':
            problems.append(f'unexpected reply status {run.status!r}')
            self.stop(f'code cell {self.cell_num} failed')
        elif expect_error:
            problems.append('tagged raises-exception but ran without error')

        if stderr and not problems and not (expect_error and
                                            run.status == 'error'):
            problems.append(f'wrote to stderr: {first_line(stderr)}')
        for cell_num, text in run.late_stderr:
            problems.append(f'code cell {cell_num} wrote to stderr after it '
                            f'had finished: {first_line(text)}')
            details.append(f'late stderr of code cell {cell_num}:\n' +
                           indent(_KERNEL_FRAME.sub('', text)))
        if stderr:
            details.insert(0, 'stderr:\n' + indent(
                _KERNEL_FRAME.sub('', stderr)))

        if self.options['check'] and run.status == 'ok' and not run.died:
            # Not execution_count: nbclient leaves it null under tslab,
            # which sends no execute_input (plain nbval then skips the
            # comparison of every cell).
            if not self.cell.outputs:
                problems.append(
                    'tagged nbval-check-output but the notebook stores no '
                    'output for it: execute the notebook and commit it (or '
                    'untag a cell that prints nothing)')
            elif not self.compare_outputs(
                    run.outputs, coalesce_streams(self.cell.outputs)):
                problems.append('output differs from the stored output')
                details.append('output comparison (reference_output is '
                               'the stored one; in a diff, + marks stored '
                               'lines and - this run\'s):\n' +
                               '\n'.join(self.comparison_traceback))
        return problems, details

    def compare_outputs(self, test, ref, skip_compare=None):
        """nbval's comparison, with image data replaced by a placeholder
        naming its type unless the cell is tagged nbval-check-images."""
        def mask(outputs):
            masked = []
            for out in outputs:
                out = copy.deepcopy(out)
                for mime, value in list(out.get('data', {}).items()):
                    if not mime.startswith('image/'):
                        continue
                    if self.options['check_images']:
                        if isinstance(value, list):
                            value = ''.join(value)
                        out['data'][mime] = re.sub(r'\s+', '', value)
                    else:
                        out['data'][mime] = f'<{mime} data not compared>'
                masked.append(out)
            return masked
        skip = tuple(k for k in self.parent.skip_compare
                     if not k.startswith('image/'))
        return super().compare_outputs(mask(test), mask(ref), skip)

    def reportinfo(self):
        # nbval's domain holds the file name, whose '.' pytest's verbose
        # lines turn into '::' ("good::ipynb").
        return self.path, None, self.name

    def repr_failure(self, excinfo):
        exc = excinfo.value
        if not isinstance(exc, CellFailure):
            return super().repr_failure(excinfo)
        problems = exc.problems
        shown = path = self.parent.path
        for base in (self.config.invocation_params.dir,
                     self.config.rootpath):
            try:
                shown = path.relative_to(base)
                break
            except ValueError:
                pass
        reason = problems[0] + (f' (+{len(problems) - 1} more)'
                                if len(problems) > 1 else '')
        text = [f'{shown}, {self.where}: {problems[0]}']
        text += [f'also: {p}' for p in problems[1:]]
        text.append('input:\n' + indent(self.cell.source))
        text += exc.details
        self.config.stash.setdefault(_FAILURES, []).append(
            f'{shown} cell {self.cell_num}: {reason}')
        return CellFailureRepr(reason, '\n'.join(text), str(shown))


# --------------------------------------------------------------------------
# Hooks


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    """Replaces nbval's notebook collector by ours."""
    nodes = yield
    return [TslabNotebook.from_parent(parent, path=file_path)
            if type(node) is IPyNbFile else node for node in nodes or []]


def pytest_configure(config):
    if config.option.nbval_sanitize_with is None and not getattr(
            config.option, 'sanitize_with', None):
        config.option.nbval_sanitize_with = str(DEFAULT_SANITIZE)


def pytest_report_header(config):
    if not (config.option.nbval or config.option.nbval_lax):
        return None
    name = config.option.nbval_kernel_name or KERNEL_NAME
    try:
        spec = NbvalKernelspecManager().get_kernel_spec(name)
        where = f'{spec.resource_dir} -> {spec.argv[0]}'
    except Exception as e:  # reported again, per notebook, at kernel start
        where = f'not found ({e})'
    return [f'nbval-tslab: kernel {name!r}: {where}',
            'nbval-tslab: CYCLEGAN_PROFILE='
            f'{os.environ.get("CYCLEGAN_PROFILE", "(unset)")}, cell timeout '
            f'{config.option.nbval_cell_timeout:g} s, sanitize '
            f'{config.option.nbval_sanitize_with}']


def pytest_terminal_summary(terminalreporter, config):
    failures = config.stash.get(_FAILURES, [])
    if failures:
        terminalreporter.section('failing notebook cells', sep='-')
        for line in failures:
            terminalreporter.line(line)
