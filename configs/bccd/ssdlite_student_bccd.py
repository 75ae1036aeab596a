# BCCD (364 real blood-cell microscope images, 640x480, VOC layout without a year folder; classes
# RBC, WBC, Platelets; trainval 292 / test 72) with the toy-sized SSDLite student (128 px, 340
# anchors). Data: ../shared/data/BCCD/ by default, another copy: MMKD_BCCD_ROOT=/path/to/BCCD/
#   python tools/train.py configs/bccd/ssdlite_student_bccd.py
_base_ = '../toy/ssdlite_student_toy.py'

classes = ('RBC', 'WBC', 'Platelets')
data_root = '{{$MMKD_BCCD_ROOT:../shared/data/BCCD/}}'
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=dict(classes=classes), ann_file='ImageSets/Main/trainval.txt',
    data_prefix=dict(sub_data_root='')))
val_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=dict(classes=classes), ann_file='ImageSets/Main/test.txt',
    data_prefix=dict(sub_data_root='')))
test_dataloader = val_dataloader
