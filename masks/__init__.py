"""Monster-mask art, its catalog and the code that draws it."""
