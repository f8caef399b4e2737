"""runs/digits-centre-init: checkpoints/digits with 15 writable rows (the 16th dropped) and a writable centre
(m: 64 floats, log rho: 1), so P stays 1040 = 15*64 + 15 + 64 + 1."""

import torch

from model.checkpoint import load_checkpoint, save_checkpoint
from model.memory import EnergyMemory

old = load_checkpoint("checkpoints/digits")
rows, dim = 15, 64
new = EnergyMemory(old.config.replace(writable_hidden=rows, writable_centre=True, training={}))
source, target = old.state_dict(), new.state_dict()
kept = torch.cat([torch.arange(rows * dim), 16 * dim + torch.arange(rows)])  # W's first 15 rows, their b
for key, value in source.items():
    if key == "energy.theta_bar":
        target[key][: rows * dim + rows] = value[kept]
    elif key == "log_write_lr":
        target[key][..., : rows * dim + rows] = value[..., kept]
    elif key == "energy.A":
        target[key] = value[:, :rows]
    else:
        assert target[key].shape == value.shape, key
        target[key] = value
# writing lands m on the set's mean in its first step (rate 1/ρ̄) and only then lets the set's spread lower ρ
rho_bar = new.config.init_centre_stiffness
target["log_write_lr"][0, rows * dim + rows : -1] = torch.log(torch.tensor(1.0 / rho_bar))
target["log_write_lr"][0, -1] = torch.log(torch.tensor(0.01))
new.load_state_dict(target)
print("P =", new.energy.writable_numel, "log_write_lr", tuple(new.log_write_lr.shape))
save_checkpoint(new, "runs/digits-centre-init2")
