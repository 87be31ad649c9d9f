"""A small PyTorch reference of the official CycleGAN networks and step.

Written from the published layer recipe (Zhu et al. 2017, appendix 7.2,
and the option defaults of the authors' pytorch-CycleGAN-and-pix2pix), so
that our TensorFlow.js networks can be checked number for number. The
module nesting mirrors the official one on purpose: `state_dict()` keys are
those of an official checkpoint (`model.1.weight`,
`model.10.conv_block.1.weight`, `model.model.1.model.3...`), so the same
loader reads both.

Defaults are the official CycleGAN ones: instance norm without affine
parameters or running statistics, conv bias on (a norm without a shift
follows every conv), no dropout, reflection padding in the ResNet blocks.
"""
import functools
import itertools

import torch
from torch import nn

# The official option set: --norm instance builds this norm layer.
InstanceNorm = functools.partial(
    nn.InstanceNorm2d, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [pad 1, conv 3x3, norm, ReLU, pad 1, conv 3x3, norm](x)."""

    def __init__(self, dim, norm=InstanceNorm, use_dropout=False, bias=True):
        super().__init__()
        layers = [nn.ReflectionPad2d(1),
                  nn.Conv2d(dim, dim, 3, padding=0, bias=bias),
                  norm(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1),
                   nn.Conv2d(dim, dim, 3, padding=0, bias=bias),
                   norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-3.

    Sequential indices (no dropout): 1 the 7x7 stem conv, 4 and 7 the
    stride-2 convs, 10.. the residual blocks, then the two transposed convs
    and the 7x7 output conv, so keys match the official checkpoints.
    """

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9,
                 norm=InstanceNorm, use_dropout=False, bias=True):
        super().__init__()
        layers = [nn.ReflectionPad2d(3),
                  nn.Conv2d(input_nc, ngf, 7, padding=0, bias=bias),
                  norm(ngf), nn.ReLU(True)]
        channels = ngf
        for _ in range(2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(channels, channels * 2, 3, stride=2,
                                 padding=1, bias=bias),
                       norm(channels * 2), nn.ReLU(True)]
            channels *= 2
        for _ in range(n_blocks):
            layers.append(ResnetBlock(channels, norm, use_dropout, bias))
        for _ in range(2):  # two fractionally strided convolutions
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3,
                                          stride=2, padding=1,
                                          output_padding=1, bias=bias),
                       norm(channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ReflectionPad2d(3),
                   nn.Conv2d(channels, output_nc, 7, padding=0),
                   nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UnetBlock(nn.Module):
    """One level of the U-Net: down conv, the inner levels, up conv, skip.

    `outer` channels come in and go out, `inner` channels are what the
    stride-2 4x4 conv makes. Indices inside `model` follow the official
    UnetSkipConnectionBlock so the checkpoint keys line up.
    """

    def __init__(self, outer, inner, input_nc=None, sub=None,
                 outermost=False, innermost=False, norm=InstanceNorm,
                 use_dropout=False, bias=True):
        super().__init__()
        self.outermost = outermost
        input_nc = outer if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1,
                                    bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down,
                      nn.ReLU(True), up, norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1,
                                    bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm(inner), sub,
                      nn.ReLU(True), up, norm(outer)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        # The skip connection: this level's input beside its output.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels (8 for unet_256, 7 for
    unet_128); the input side must be a multiple of 2**num_downs."""

    def __init__(self, input_nc=3, output_nc=3, num_downs=8, ngf=64,
                 norm=InstanceNorm, use_dropout=False, bias=True):
        super().__init__()
        kw = dict(norm=norm, bias=bias)
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, **kw)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, sub=block,
                              use_dropout=use_dropout, **kw)
        block = UnetBlock(ngf * 4, ngf * 8, sub=block, **kw)
        block = UnetBlock(ngf * 2, ngf * 4, sub=block, **kw)
        block = UnetBlock(ngf, ngf * 2, sub=block, **kw)
        self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, sub=block,
                               outermost=True, **kw)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: C64 (no norm), C128, C256 (stride 2), C512 (stride 1), then
    a 1-channel 4x4 conv; LeakyReLU 0.2; 70x70 receptive field with
    n_layers 3 (the `basic` netD)."""

    def __init__(self, input_nc=3, ndf=64, n_layers=3, norm=InstanceNorm,
                 bias=True):
        super().__init__()
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1),
                  nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride,
                                 padding=1, bias=bias),
                       norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def define_g(net_g, ngf=64, input_nc=3, output_nc=3):
    """The official --netG names."""
    if net_g.startswith('resnet_'):
        blocks = {'resnet_9blocks': 9, 'resnet_6blocks': 6}[net_g]
        return ResnetGenerator(input_nc, output_nc, ngf, n_blocks=blocks)
    downs = {'unet_256': 8, 'unet_128': 7}[net_g]
    return UnetGenerator(input_nc, output_nc, downs, ngf)


def define_d(net_d='basic', ndf=64, input_nc=3, n_layers=3):
    """The official --netD names (`basic` = n_layers 3)."""
    if net_d == 'basic':
        n_layers = 3
    elif net_d != 'n_layers':
        raise ValueError(f'unknown netD {net_d!r}')
    return NLayerDiscriminator(input_nc, ndf, n_layers)


def init_normal(net, gain=0.02):
    """The official --init_type normal: conv weights N(0, gain), bias 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def param_count(net):
    return sum(p.numel() for p in net.parameters())


def pad_amounts(size, multiple, min_size=None):
    """Padding [before, after] that brings `size` to the next multiple of
    `multiple` (at least `min_size`), split evenly with the odd pixel at
    the end: the rule of our PadToMultiple layer (lib/layers.ts)."""
    target = max(min_size or multiple, -(-size // multiple) * multiple)
    extra = target - size
    return extra // 2, extra - extra // 2


def pad_to_multiple(x, multiple, min_size=None):
    """Reflect-pads NCHW `x` (centred) up to a multiple of `multiple`;
    returns the padded tensor and the crop box (top, left, h, w)."""
    h, w = x.shape[2], x.shape[3]
    top, bottom = pad_amounts(h, multiple, min_size)
    left, right = pad_amounts(w, multiple, min_size)
    if top + bottom + left + right > 0:
        x = nn.functional.pad(x, (left, right, top, bottom), mode='reflect')
    return x, (top, left, h, w)


def translate(net_g, x, multiple=4, min_size=None):
    """Pad (reflect) to a size the generator keeps, run, crop back."""
    padded, (top, left, h, w) = pad_to_multiple(x, multiple, min_size)
    return net_g(padded)[:, :, top:top + h, left:left + w]


class ImagePool:
    """The history of generated images (Shrivastava et al. 2017) that the
    discriminators see; while fewer than `size` are stored, a query stores
    and returns its input."""

    def __init__(self, size=50, rng=None):
        self.size, self.images = size, []
        self.rng = rng or __import__('random').Random(0)

    def query(self, images):
        if self.size == 0:
            return images
        out = []
        for image in images:
            image = image.detach().unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() > 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class CycleGAN:
    """One training iteration of the official CycleGAN model.

    Official naming: G_A maps A to B, G_B maps B to A, D_A judges images of
    domain B (the output of G_A), D_B judges domain A. Loss weights are the
    defaults: lambda_A = lambda_B = 10, lambda_identity 0.5, LSGAN.
    """

    def __init__(self, g_a, g_b, d_a, d_b, lambda_a=10.0, lambda_b=10.0,
                 lambda_idt=0.5, lr=2e-4, beta1=0.5, pool_size=50):
        self.g_a, self.g_b, self.d_a, self.d_b = g_a, g_b, d_a, d_b
        self.lambda_a, self.lambda_b, self.lambda_idt = (
            lambda_a, lambda_b, lambda_idt)
        self.opt_g = torch.optim.Adam(
            itertools.chain(g_a.parameters(), g_b.parameters()),
            lr=lr, betas=(beta1, 0.999))
        self.opt_d = torch.optim.Adam(
            itertools.chain(d_a.parameters(), d_b.parameters()),
            lr=lr, betas=(beta1, 0.999))
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)
        self.l1 = nn.L1Loss()

    @staticmethod
    def lsgan(pred, real):
        """Least-squares GAN loss: mean (D(x) - target)^2, target 1 or 0."""
        target = torch.full_like(pred, 1.0 if real else 0.0)
        return nn.functional.mse_loss(pred, target)

    def _set_d_grad(self, flag):
        for p in itertools.chain(self.d_a.parameters(),
                                 self.d_b.parameters()):
            p.requires_grad_(flag)

    def step(self, real_a, real_b):
        """Generator update, then discriminator update (with the fakes made
        before the generator update, through the pools). Returns the
        official loss names as floats."""
        fake_b = self.g_a(real_a)
        rec_a = self.g_b(fake_b)
        fake_a = self.g_b(real_b)
        rec_b = self.g_a(fake_a)

        self._set_d_grad(False)
        self.opt_g.zero_grad()
        losses = {}
        if self.lambda_idt > 0:
            idt_a = self.g_a(real_b)
            idt_b = self.g_b(real_a)
            losses['idt_A'] = (self.l1(idt_a, real_b) * self.lambda_b *
                               self.lambda_idt)
            losses['idt_B'] = (self.l1(idt_b, real_a) * self.lambda_a *
                               self.lambda_idt)
        else:
            losses['idt_A'] = losses['idt_B'] = torch.zeros(())
        losses['G_A'] = self.lsgan(self.d_a(fake_b), True)
        losses['G_B'] = self.lsgan(self.d_b(fake_a), True)
        losses['cycle_A'] = self.l1(rec_a, real_a) * self.lambda_a
        losses['cycle_B'] = self.l1(rec_b, real_b) * self.lambda_b
        loss_g = (losses['G_A'] + losses['G_B'] + losses['cycle_A'] +
                  losses['cycle_B'] + losses['idt_A'] + losses['idt_B'])
        loss_g.backward()
        self.opt_g.step()

        self._set_d_grad(True)
        self.opt_d.zero_grad()
        losses['D_A'] = self._d_loss(self.d_a, real_b,
                                     self.pool_b.query(fake_b))
        losses['D_B'] = self._d_loss(self.d_b, real_a,
                                     self.pool_a.query(fake_a))
        self.opt_d.step()
        out = {k: float(v.detach()) for k, v in losses.items()}
        out['G'] = float(loss_g.detach())
        return out

    def _d_loss(self, d, real, fake):
        loss = 0.5 * (self.lsgan(d(real), True) +
                      self.lsgan(d(fake.detach()), False))
        loss.backward()
        return loss
