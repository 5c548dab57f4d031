"""The digits lab's Streamlit layer, used by ``views/digits.py``:

- :mod:`~ui.digits.cache`: the cached calls of core.digits (keyed on bytes hashes and
  other hashable arguments, never on tensors);
- :mod:`~ui.digits.panels`: the page's panels;
- :mod:`~ui.digits.plots`: the pictures (rendering only);
- :mod:`~ui.digits.arithmetic`: how one number was computed, and the softmax.
"""
