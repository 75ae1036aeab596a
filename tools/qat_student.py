"""Quantization-aware training baseline (paper Table 8): train, convert to int8, evaluate.

    python tools/qat_student.py configs/cifar10/qat_mobilenetv2_student.py [--work-dir DIR]
        [--checkpoint CKPT] [--cfg-options key=value ...]

Trains the QAT config through mmengine (with its CarbonFootprintHook), or loads ``--checkpoint``
instead of training; then converts the model to int8 (torch.ao ``convert_fx``), scores the
fake-quant and int8 models on the validation set, saves ``<work_dir>/int8_state_dict.pth`` and
writes ``<work_dir>/qat_summary.json`` (metrics, sizes, and the meter's totals when present).
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd_green.apis import add_common_args, build_runner, config_from_args  # noqa: E402


def parse_args(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description='QAT baseline → int8'))
    parser.add_argument('--checkpoint', help='skip training: convert this QAT checkpoint')
    parser.add_argument('--max-val-batches', type=int, default=None,
                        help='score only the first N validation batches')
    return parser.parse_args(argv)


def main(argv=None):
    from mmengine.model import is_model_wrapper

    from mmkd_green.classification.models import QATClassifier
    from mmkd_green.classification.qat_eval import summarize_qat
    args = parse_args(argv)
    cfg = config_from_args(args)
    runner = build_runner(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if not isinstance(model, QATClassifier):
        raise TypeError(f'{args.config}: model.type must be QATClassifier, got '
                        f'{type(model).__name__}')
    if args.checkpoint:
        runner.load_checkpoint(args.checkpoint)
    else:
        runner.train()
    summary = summarize_qat(model, runner.val_dataloader, runner.work_dir, args.max_val_batches)
    try:
        from mmkd_green.energy.report import load_run_totals
        summary['run_totals'] = load_run_totals(runner.work_dir)
    except (ImportError, FileNotFoundError) as e:   # meter not installed / run not metered
        summary['run_totals'] = None
        print(f'no energy totals: {e}', file=sys.stderr)
    with open(osp.join(runner.work_dir, 'qat_summary.json'), 'w') as f:
        json.dump(summary, f, indent=2, default=str)
    print(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
