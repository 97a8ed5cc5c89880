from tair_ocr.cli import main

raise SystemExit(main())
