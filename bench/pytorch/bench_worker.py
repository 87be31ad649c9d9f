"""The PyTorch half of bench/vs-pytorch.ts: a worker that builds the
reference CycleGAN (cyclegan_ref.py) and times one training iteration or
one generator forward pass on command, so that the driver can alternate
between the two frameworks within one run.

Protocol: one JSON object per line on stdin, one JSON reply per line on
stdout.
    {"cmd": "setup", "size": 128, "ngf": 64, "ndf": 64, "threads": 2}
    {"cmd": "train"}   -> {"seconds": ...}  (both G, both D, identity on)
    {"cmd": "infer"}   -> {"seconds": ...}  (generator A->B, no grad)
    {"cmd": "matmul", "n": 2048, "threads": 2}
                       -> {"gflops": ...}   (median float32 n x n product)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import cyclegan_ref as ref  # noqa: E402


def main():
    state = {}
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg['cmd']
        if cmd == 'setup':
            torch.set_num_threads(int(msg.get('threads', 2)))
            torch.manual_seed(0)
            size, ngf, ndf = msg['size'], msg['ngf'], msg['ndf']
            nets = [ref.init_normal(ref.define_g('resnet_9blocks', ngf=ngf)),
                    ref.init_normal(ref.define_g('resnet_9blocks', ngf=ngf)),
                    ref.init_normal(ref.define_d('basic', ndf=ndf)),
                    ref.init_normal(ref.define_d('basic', ndf=ndf))]
            state = {
                'model': ref.CycleGAN(*nets), 'g': nets[0],
                'a': torch.rand(1, 3, size, size) * 2 - 1,
                'b': torch.rand(1, 3, size, size) * 2 - 1,
            }
            reply = {'threads': torch.get_num_threads(),
                     'torch': torch.__version__}
        elif cmd == 'train':
            t0 = time.perf_counter()
            losses = state['model'].step(state['a'], state['b'])
            reply = {'seconds': time.perf_counter() - t0, 'G': losses['G']}
        elif cmd == 'infer':
            with torch.no_grad():
                t0 = time.perf_counter()
                y = state['g'](state['a'])
                reply = {'seconds': time.perf_counter() - t0,
                         'mean': float(y.mean())}
        elif cmd == 'matmul':
            torch.set_num_threads(int(msg.get('threads', 2)))
            n = int(msg.get('n', 2048))
            a, b = torch.randn(n, n), torch.randn(n, n)
            torch.mm(a, b)  # warm-up
            rates = []
            for _ in range(5):
                t0 = time.perf_counter()
                torch.mm(a, b)
                rates.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
            reply = {'gflops': sorted(rates)[len(rates) // 2]}
        elif cmd == 'quit':
            break
        else:
            reply = {'error': f'unknown command {cmd!r}'}
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
