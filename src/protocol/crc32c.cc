// placeholder until the batch helper lands the real implementation
