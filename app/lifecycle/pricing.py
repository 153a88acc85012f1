"""What a model call costs: a per-model price table and a deterministic token count.

Label Studio Enterprise reports, per prediction, the tokens its provider counted and their price.
The emulator has no tokenizer and no provider bill, so it counts about four characters a token
(OpenAI's rule of thumb for English text) and prices tokens from the table below: US dollars per
1,000 tokens, prompt (input) and completion (output), from the providers' public price lists.
A model not in the table is priced as ``DEFAULT_PRICE``. No HTTP here.
"""

import math
from functools import lru_cache

CHARS_PER_TOKEN = 4

# provider_model_id -> (prompt USD per 1k tokens, completion USD per 1k tokens)
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (0.0025, 0.01),
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4.1": (0.002, 0.008),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1-nano": (0.0001, 0.0004),
    "gpt-4-turbo": (0.01, 0.03),
    "gpt-4": (0.03, 0.06),
    "gpt-3.5-turbo": (0.0005, 0.0015),
    "o1": (0.015, 0.06),
    "o1-mini": (0.0011, 0.0044),
    "o3-mini": (0.0011, 0.0044),
    "claude-3-5-sonnet-20241022": (0.003, 0.015),
    "claude-3-5-haiku-20241022": (0.0008, 0.004),
    "claude-3-opus-20240229": (0.015, 0.075),
    "gemini-1.5-pro": (0.00125, 0.005),
    "gemini-1.5-flash": (0.000075, 0.0003),
    "gemini-2.0-flash": (0.0001, 0.0004),
}
DEFAULT_PRICE: tuple[float, float] = PRICES["gpt-4o-mini"]


def price(provider_model_id: str) -> tuple[float, float]:
    """(prompt USD per 1k tokens, completion USD per 1k tokens) of a model; the default price
    for a model the table does not list."""
    return PRICES.get(provider_model_id, DEFAULT_PRICE)


def count_tokens(text: str) -> int:
    """Tokens in a text: one per ``CHARS_PER_TOKEN`` characters, rounded up; at least 1 for a
    non-empty text, 0 for an empty one."""
    return tokens(len(text))


def tokens(length: int) -> int:
    """Tokens in a text of ``length`` characters (see count_tokens)."""
    return math.ceil(length / CHARS_PER_TOKEN)


# Kept by its arguments: a run's calls repeat their counts (about a microsecond a call).
@lru_cache(maxsize=4096)
def cost(provider_model_id: str, prompt_tokens: int, completion_tokens: int) -> tuple[float, float]:
    """(prompt USD, completion USD) of a call, rounded to a millionth of a cent."""
    prompt_rate, completion_rate = price(provider_model_id)
    return (
        round(prompt_tokens * prompt_rate / 1000, 8),
        round(completion_tokens * completion_rate / 1000, 8),
    )
