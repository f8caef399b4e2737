"""The EBMM memory service: FastAPI over the inference Engine, θ per memory in Redis, a dynamic batcher."""
