"""Layer 4, stage `encode`: the Cordero, Menkovski & Allmer (2019) hairpin image and its inverse.

`image` holds the image's geometry, colours and factors; `walk` turns a folded molecule into
factors, `render` factors into pixels, `decode` pixels back into factors and a hairpin; `images`
reads sets of encoded images; `stage` is the stage and the encode/decode tools.
"""
