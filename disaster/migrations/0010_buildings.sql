-- Reserved for the building import (issue 8); replaced by its migration.
SELECT 1;
