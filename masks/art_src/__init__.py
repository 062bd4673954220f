"""The code that draws the committed mask art (masks/art/*.png, masks/catalog.json): source, not shipped."""
