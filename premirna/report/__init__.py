"""Stage report: the pages of the HTML report that the stages do not draw themselves."""
