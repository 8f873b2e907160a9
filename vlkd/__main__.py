from vlkd.entry_point import main

if __name__ == "__main__":
    main()
