"""Round files instead of banks in checkpoints: exact image bank, float16-close feature bank."""
import io
import os

import pytest
import torch

from mmkd_green.dfkd.synthesis import CMISynthesizer
from mmkd_green.dfkd.synthesis.round_store import FEATURE_RTOL, RoundStore

from test_synthesis_flops import C_S, C_T, K, N, NGF, NZ, S, OneConv


def _cmi(seed=0, bank=3 * N):
    torch.manual_seed(seed)
    synth = CMISynthesizer(K, img_size=(3, S, S), synthesis_batch_size=N, iterations=2,
                           generator=dict(type='DCGANGenerator', nz=NZ, ngf=NGF, img_size=S),
                           head_dim=4, feature_bank_size=bank, n_neg=5, kd_padding=0)
    return synth.bind(OneConv(C_T).eval(), OneConv(C_S).eval())


def _size(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.tell()


def test_resume_from_round_files(tmp_path):
    synth = _cmi()
    synth.attach_store(RoundStore(str(tmp_path / 'rank0')))
    for _ in range(5):                   # 5 rounds of 4 rows: the 12-row feature bank wraps
        synth.synthesize()
    state = synth.state_dict()
    extra = state['_extra_state']
    assert len(extra['round_files']) == 5 and 'bank' not in extra and 'feature_bank' not in extra
    synth.attach_store(None)
    assert _size(state) < _size(synth.state_dict())       # the banks are no longer inside
    resumed = _cmi(seed=1)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.bank.images(), synth.bank.images())
    assert resumed.bank.n_added == synth.bank.n_added == 5 * N
    a, b = resumed.feature_bank.data, synth.feature_bank.data
    assert a.shape == b.shape == (3 * N, b.shape[1]) and resumed.feature_bank._ptr == \
        synth.feature_bank._ptr
    assert torch.allclose(a, b, rtol=FEATURE_RTOL, atol=2.0 ** -24)
    # a resumed run continues writing its own files; the first run's files stay untouched
    resumed.attach_store(RoundStore(str(tmp_path / 'rank0')))
    before = sorted(os.listdir(tmp_path / 'rank0'))
    resumed.synthesize()
    after = sorted(os.listdir(tmp_path / 'rank0'))
    assert set(before) < set(after) and len(resumed.round_files) == 6


def test_missing_round_file_is_named(tmp_path):
    synth = _cmi()
    synth.attach_store(RoundStore(str(tmp_path)))
    synth.synthesize()
    state = synth.state_dict()
    os.remove(state['_extra_state']['round_files'][0])
    with pytest.raises(FileNotFoundError, match='round_000000.*bank_storage="checkpoint"'):
        _cmi().load_state_dict(state)
