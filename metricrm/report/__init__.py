"""Reports (layer 4: assembles finished result frames and plotting Displays into documents).

Contract for what lands here: a report takes result frames and figures that already exist and
writes a self-contained document (HTML with embedded figures, or Markdown), with every
signature, setting and version that produced the numbers. It scores nothing and computes no
statistics; matplotlib and templating libraries are imported inside functions.
"""
