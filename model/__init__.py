"""EBMM: Energy-Based Memory Models (Bartunov et al., ICLR 2020) in pure torch, batched over memories."""

from model.config import ModelConfig
from model.engine import Engine, ModelInfo, ReadResult
from model.memory import EnergyMemory

__all__ = ["EnergyMemory", "Engine", "ModelConfig", "ModelInfo", "ReadResult"]
