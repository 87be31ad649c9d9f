"""Writes the golden fixtures under tests/fixtures/ from the PyTorch
reference (cyclegan_ref.py), for fixed seeds.

    .venv/bin/python bench/pytorch/make_fixtures.py

Outputs (kept small: narrow networks, small images):

- golden.json + golden.bin: weights (as official state_dict entries, OIHW /
  IOHW), inputs and outputs of resnet_9blocks, resnet_6blocks (ngf 8; 32x32
  and an odd 33x35, padded and cropped back as our generator does),
  unet_256 (ngf 2 at 256x256) and the basic PatchGAN (ndf 8); and two
  CycleGAN training iterations (resnet_9blocks ngf 4, basic ndf 4, LSGAN,
  identity 0.5, lambda 10, empty pools) with their losses (float64, and
  PyTorch's float32 values beside them).
- pytorch/*.pth: checkpoints for the .pth reader: one saved with
  InstanceNorm running-stat buffers (as PyTorch < 0.4 wrote them), one in
  the legacy (non-zip) format, and hostile pickles that must be refused.

Weights are rounded to float16 values and stored as float16 (exact in
float32), inputs as bytes k meaning (k - 128) / 128 (exact too); outputs
and losses are float32 / float64 as PyTorch computed them.
"""
import collections
import io
import json
import os
import pickle
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cyclegan_ref as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'tests', 'fixtures')


class ArrayFile:
    """Float16/float32/uint8 arrays packed into one .bin, named in JSON."""

    def __init__(self):
        self.blob = bytearray()
        self.index = {}

    def add(self, name, tensor, dtype):
        assert name not in self.index, name
        t = tensor.detach().contiguous()
        if dtype == 'float16':
            data = t.to(torch.float16).numpy().tobytes()
        elif dtype == 'float32':
            data = t.to(torch.float32).numpy().tobytes()
        elif dtype == 'uint8':
            data = t.to(torch.uint8).numpy().tobytes()
        else:
            raise ValueError(dtype)
        while len(self.blob) % 4:
            self.blob.append(0)
        self.index[name] = {'dtype': dtype, 'shape': list(t.shape),
                            'offset': len(self.blob)}
        self.blob += data
        return name


def half_exact(net):
    """Rounds every parameter to the nearest float16 value, so storing it as
    float16 loses nothing."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.half().float())
    return net


def image_bytes(gen, shape):
    """A random image: bytes k, pixel value (k - 128) / 128 in [-1, 1)."""
    k = torch.randint(0, 256, shape, generator=gen, dtype=torch.int64)
    return k.to(torch.uint8), (k.float() - 128) / 128


def add_state_dict(arrays, prefix, net):
    keys = []
    for key, t in net.state_dict().items():
        arrays.add(f'{prefix}/{key}', t, 'float16')
        keys.append(key)
    return keys


def generator_case(arrays, name, net_g, ngf, sizes, seed, out_stride=None):
    torch.manual_seed(seed)
    net = half_exact(ref.define_g(net_g, ngf=ngf))
    net.eval()
    keys = add_state_dict(arrays, f'{name}/weights', net)
    multiple = 4 if net_g.startswith('resnet') else 2 ** int(
        {'unet_256': 8, 'unet_128': 7}[net_g])
    min_size = 8 if net_g.startswith('resnet') else multiple
    gen = torch.Generator().manual_seed(seed + 1)
    cases = []
    for h, w in sizes:
        raw, x = image_bytes(gen, (1, 3, h, w))
        with torch.no_grad():
            y = ref.translate(net, x, multiple, min_size)
        case = {'height': h, 'width': w,
                'input': arrays.add(f'{name}/input_{h}x{w}', raw, 'uint8')}
        if out_stride:
            # Every out_stride-th row and column, and the last ones.
            rows = sorted(set(range(0, h, out_stride)) | {h - 1})
            cols = sorted(set(range(0, w, out_stride)) | {w - 1})
            y = y[:, :, rows][:, :, :, cols]
            case['rows'], case['cols'] = rows, cols
        case['output'] = arrays.add(f'{name}/output_{h}x{w}', y, 'float32')
        cases.append(case)
    return {'name': name, 'netG': net_g, 'ngf': ngf,
            'params': ref.param_count(net), 'weights': f'{name}/weights',
            'keys': keys, 'cases': cases}


def discriminator_case(arrays, name, ndf, sizes, seed):
    torch.manual_seed(seed)
    net = half_exact(ref.define_d('basic', ndf=ndf))
    keys = add_state_dict(arrays, f'{name}/weights', net)
    gen = torch.Generator().manual_seed(seed + 1)
    cases = []
    for h, w in sizes:
        raw, x = image_bytes(gen, (1, 3, h, w))
        with torch.no_grad():
            y = net(x)
        cases.append({
            'height': h, 'width': w,
            'input': arrays.add(f'{name}/input_{h}x{w}', raw, 'uint8'),
            'output': arrays.add(f'{name}/output_{h}x{w}', y, 'float32')})
    return {'name': name, 'netD': 'basic', 'ndf': ndf,
            'params': ref.param_count(net), 'weights': f'{name}/weights',
            'keys': keys, 'cases': cases}


def training_case(arrays, seed, ngf=4, ndf=4, size=32, iterations=2):
    """Official init (normal, std 0.02, zero bias), rounded to float16.

    The reference losses are computed in float64: from the second
    iteration on they depend on Adam's first update, which is about
    lr * sign(gradient) and so flips for weights whose gradient is near
    zero under float32 rounding. PyTorch's own float32 losses, kept as
    `lossesFloat32`, differ from the float64 ones by up to ~1e-4 there.
    """
    def build(dtype):
        nets = {}
        for i, (role, make) in enumerate([
                ('G_A', lambda: ref.define_g('resnet_9blocks', ngf=ngf)),
                ('G_B', lambda: ref.define_g('resnet_9blocks', ngf=ngf)),
                ('D_A', lambda: ref.define_d('basic', ndf=ndf)),
                ('D_B', lambda: ref.define_d('basic', ndf=ndf))]):
            torch.manual_seed(seed + i)
            nets[role] = half_exact(ref.init_normal(make())).to(dtype)
        return nets

    def run(nets, dtype):
        gen = torch.Generator().manual_seed(seed + 10)
        model = ref.CycleGAN(nets['G_A'], nets['G_B'], nets['D_A'],
                             nets['D_B'])
        out = []
        for _ in range(iterations):
            raw_a, real_a = image_bytes(gen, (1, 3, size, size))
            raw_b, real_b = image_bytes(gen, (1, 3, size, size))
            out.append((raw_a, raw_b, model.step(real_a.to(dtype),
                                                 real_b.to(dtype))))
        return out

    nets = build(torch.float32)
    weights = {role: f'train/{role}' for role in nets}
    for role, net in nets.items():
        add_state_dict(arrays, weights[role], net)
    exact = run(build(torch.float64), torch.float64)
    single = run(nets, torch.float32)
    steps = []
    for it, ((raw_a, raw_b, losses), (_, _, losses32)) in enumerate(
            zip(exact, single)):
        steps.append({
            'realA': arrays.add(f'train/realA_{it}', raw_a, 'uint8'),
            'realB': arrays.add(f'train/realB_{it}', raw_b, 'uint8'),
            'losses': losses, 'lossesFloat32': losses32})
    return {
        'netG': 'resnet_9blocks', 'ngf': ngf, 'netD': 'basic', 'ndf': ndf,
        'size': size, 'ganMode': 'lsgan', 'lambdaA': 10.0, 'lambdaB': 10.0,
        'lambdaIdentity': 0.5, 'lr': 2e-4, 'beta1': 0.5, 'beta2': 0.999,
        'adamEpsilon': 1e-8, 'poolSize': 50, 'lossPrecision': 'float64',
        'notation': 'official: G_A maps A to B, G_B maps B to A, D_A judges '
                    'domain B (fakes of G_A), D_B judges domain A',
        'weights': weights, 'steps': steps}


def write_golden():
    arrays = ArrayFile()
    manifest = {
        'about': 'Golden outputs of the PyTorch reference '
                 '(bench/pytorch/make_fixtures.py). Weights are official '
                 'state_dict entries (conv OIHW, transposed conv IOHW); '
                 'uint8 images mean (k - 128) / 128; NCHW arrays.',
        'torch': torch.__version__,
        'generators': [
            generator_case(arrays, 'resnet_9blocks', 'resnet_9blocks', 8,
                           [(32, 32), (33, 35)], seed=1),
            generator_case(arrays, 'resnet_6blocks', 'resnet_6blocks', 8,
                           [(32, 32), (33, 35)], seed=2),
            generator_case(arrays, 'unet_256', 'unet_256', 2, [(256, 256)],
                           seed=3, out_stride=2),
        ],
        'discriminators': [
            discriminator_case(arrays, 'basic', 8, [(32, 32), (70, 70)],
                               seed=4),
        ],
        'training': training_case(arrays, seed=5),
    }
    manifest['arrays'] = arrays.index
    with open(os.path.join(OUT, 'golden.bin'), 'wb') as f:
        f.write(arrays.blob)
    with open(os.path.join(OUT, 'golden.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')


class _Call:
    """An object whose pickle calls `fn(*args)` on load (never loaded
    here: these files exist to be refused)."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _zip_pickle(path, payload, name='archive'):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        for entry, data in [('data.pkl', payload), ('version', '3\n'),
                            ('byteorder', 'little')]:
            # A fixed date keeps the file identical from run to run.
            z.writestr(zipfile.ZipInfo(f'{name}/{entry}',
                                       (2020, 1, 1, 0, 0, 0)), data)


def write_pth():
    out = os.path.join(OUT, 'pytorch')
    os.makedirs(out, exist_ok=True)
    meta = {}

    # A resnet_9blocks G (ngf 4) whose norms kept running statistics, the
    # way PyTorch 0.4 saved InstanceNorm2d: keys the loader must drop.
    torch.manual_seed(6)
    net = ref.define_g('resnet_9blocks', ngf=4)
    old_norm = {}
    for name, m in net.named_modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            old_norm[name] = m.num_features
    sd = collections.OrderedDict()
    for key, t in net.state_dict().items():
        sd[key] = t
        mod, _, leaf = key.rpartition('.')
        for norm in list(old_norm):
            # A norm's buffers follow its conv's bias in module order.
            if leaf == 'bias' and _next_index(mod) == norm:
                n = old_norm.pop(norm)
                sd[f'{norm}.running_mean'] = torch.zeros(n)
                sd[f'{norm}.running_var'] = torch.ones(n)
                sd[f'{norm}.num_batches_tracked'] = torch.tensor(0)
    path = os.path.join(out, 'resnet_9blocks_ngf4_old_norm.pth')
    torch.save(sd, path)
    gen = torch.Generator().manual_seed(7)
    raw, x = image_bytes(gen, (1, 3, 32, 32))
    with torch.no_grad():
        y = net(x)
    meta['resnet_9blocks_ngf4_old_norm.pth'] = {
        'netG': 'resnet_9blocks', 'ngf': 4,
        'dropped': [k for k in sd if k.endswith(
            ('running_mean', 'running_var', 'num_batches_tracked'))],
        'shape': [1, 3, 32, 32],
        'input': 'resnet_9blocks_ngf4_old_norm.input.u8',
        'output': 'resnet_9blocks_ngf4_old_norm.output.f32'}
    with open(os.path.join(out, 'resnet_9blocks_ngf4_old_norm.input.u8'),
              'wb') as f:
        f.write(raw.numpy().tobytes())
    with open(os.path.join(out, 'resnet_9blocks_ngf4_old_norm.output.f32'),
              'wb') as f:
        f.write(y.numpy().astype('<f4').tobytes())

    # A resnet_6blocks G (ngf 2) trained without --no_dropout: the
    # Dropout inside each block moves its second conv to conv_block.6.
    torch.manual_seed(9)
    net = ref.ResnetGenerator(ngf=2, n_blocks=6, use_dropout=True).eval()
    torch.save(net.state_dict(), os.path.join(out, 'resnet_6blocks_ngf2_'
                                                   'dropout.pth'))
    gen = torch.Generator().manual_seed(10)
    raw, x = image_bytes(gen, (1, 3, 16, 16))
    with torch.no_grad():
        y = net(x)  # eval mode: dropout off, as our predict()
    meta['resnet_6blocks_ngf2_dropout.pth'] = {
        'netG': 'resnet_6blocks', 'ngf': 2, 'useDropout': True,
        'shape': [1, 3, 16, 16], 'input': raw.flatten().tolist(),
        'output': y.flatten().tolist()}

    # A basic D (ndf 4) in the legacy, pre-1.6 serialisation.
    torch.manual_seed(8)
    d = ref.define_d('basic', ndf=4)
    torch.save(d.state_dict(), os.path.join(out, 'basic_ndf4_legacy.pth'),
               _use_new_zipfile_serialization=False)
    meta['basic_ndf4_legacy.pth'] = {
        'netD': 'basic', 'ndf': 4,
        'sums': {k: float(v.double().sum()) for k, v in
                 d.state_dict().items()},
        'shapes': {k: list(v.shape) for k, v in d.state_dict().items()}}

    # Hostile pickles: calling os.system, builtins.eval, and a REDUCE of an
    # allowed name (a storage class) used as a function; a pickled module.
    _zip_pickle(os.path.join(out, 'evil_os_system.pth'),
                pickle.dumps(_Call(os.system, ('echo pwned',)), protocol=2))
    _zip_pickle(os.path.join(out, 'evil_eval.pth'),
                pickle.dumps(_Call(eval, ('1+1',)), protocol=4))
    evil = (b'\x80\x02ctorch\nFloatStorage\nq\x00K\x03\x85q\x01Rq\x02.')
    _zip_pickle(os.path.join(out, 'evil_reduce_storage.pth'), evil)
    torch.save(torch.nn.Conv2d(1, 1, 1),
               os.path.join(out, 'whole_module.pth'))
    meta['evil'] = {
        'evil_os_system.pth': 'posix.system' if os.name == 'posix'
        else 'nt.system',
        'evil_eval.pth': 'builtins.eval',
        'evil_reduce_storage.pth': 'torch.FloatStorage',
        'whole_module.pth': 'torch.nn.modules.conv.Conv2d'}
    with open(os.path.join(out, 'pth.json'), 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')


def _next_index(module):
    """'model.1' -> 'model.2'; 'model.10.conv_block.5' -> '...conv_block.6'."""
    head, _, last = module.rpartition('.')
    return f'{head}.{int(last) + 1}' if last.isdigit() else None


# Parameter counts of the official networks at full width (ngf/ndf 64).
OFFICIAL_PARAMS = {'resnet_9blocks': 11378179, 'resnet_6blocks': 7837699,
                   'unet_256': 54409603, 'unet_128': 41825667,
                   'basic': 2764737}


def check_reference():
    """The reference must be the official architecture before its outputs
    can serve as golden values."""
    for name, want in OFFICIAL_PARAMS.items():
        net = (ref.define_d(name) if name == 'basic' else
               ref.define_g(name))
        got = ref.param_count(net)
        assert got == want, f'{name}: {got} parameters, official {want}'
        print(f'{name}: {got:,} parameters (official)')


if __name__ == '__main__':
    check_reference()
    os.makedirs(OUT, exist_ok=True)
    write_golden()
    write_pth()
    total = 0
    for dirpath, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    print(f'fixtures written to {OUT}: {total / 1024:.0f} KiB')
