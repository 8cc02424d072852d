"""An x86 guest harness: Unicorn runs small guests whose IN/OUT reach Python device models."""
