"""A corrupt or truncated teacher checkpoint: an error naming the file and what to do."""
import pytest
import torch
import torch.nn as nn

from mmkd_green.utils.teacher import CorruptCheckpointError, load_weights


def _saved(tmp_path):
    path = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=nn.Linear(4, 3).state_dict(), meta=dict(epoch=1)), path)
    return path


def test_good_checkpoint_loads(tmp_path):
    path = _saved(tmp_path)
    model = nn.Linear(4, 3)
    load_weights(model, str(path))
    assert torch.equal(model.weight, torch.load(path)['state_dict']['weight'])


@pytest.mark.parametrize('damage', ['truncated', 'garbage', 'empty'])
def test_damaged_checkpoint_names_file_and_fix(tmp_path, damage):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes({'truncated': data[:len(data) // 2], 'garbage': b'<html>404</html>' * 8,
                      'empty': b''}[damage])
    with pytest.raises(CorruptCheckpointError) as info:
        load_weights(nn.Linear(4, 3), str(path), what='teacher', config_key='model.teacher_ckpt')
    text = str(info.value)
    assert str(path) in text and 'corrupt or truncated' in text
    assert 'copy or download it again' in text and 'model.teacher_ckpt' in text


def test_shape_mismatch_keeps_its_own_error(tmp_path):
    with pytest.raises(RuntimeError, match='size mismatch') as info:
        load_weights(nn.Linear(5, 3), str(_saved(tmp_path)))
    assert not isinstance(info.value, CorruptCheckpointError)
